"""The bottom floors: the ``Layer`` base and its variables, initializers, activations,
regularizers and constraints, seeds, devices, logging, and files on disk. Nothing here knows of
models, training or tasks."""
