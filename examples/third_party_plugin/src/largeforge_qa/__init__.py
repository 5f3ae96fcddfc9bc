"""An example third-party LargeForge plugin adding the ``qa`` data format."""
