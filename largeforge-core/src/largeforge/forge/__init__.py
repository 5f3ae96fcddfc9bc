"""``largeforge forge``: from data files to a routed team of served experts, declaratively.

The pipeline runs every stage through the plugins registered with the core (trainers,
quantizers, inference backends, classifiers), so third-party plugins work unchanged; stages
whose config and inputs did not change are skipped.
"""

from largeforge.forge.checks import PlanError
from largeforge.forge.plan import plan_pipeline
from largeforge.forge.runner import run_plan
from largeforge.forge.spec import Pipeline, PipelineSpec, load_pipeline
from largeforge.forge.stages import Plan, Stage

__all__ = ["Pipeline", "PipelineSpec", "Plan", "PlanError", "Stage", "load_pipeline", "plan_pipeline", "run_plan"]
