"""The invoke tasks, one module per area; tasks.py at the top of the project assembles them."""
