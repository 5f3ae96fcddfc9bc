"""Small helpers shared by every distribution: logging, devices, file I/O."""
