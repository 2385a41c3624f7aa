"""Jobs: what a task runs, above the boards and the fleet and joining them (smoke, the health
check, boards held through the lab's coordinator). Campaigns and nightly plans sit above these."""
