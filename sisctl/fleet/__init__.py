"""The fleet: boards shared by many jobs and lab hosts through a labgrid coordinator.

labgrid's coordinator is the engine (places, tags, reservations by priority, locks); sisctl
closes its gaps: leases with a heartbeat and a reaper (a lock there never expires), board health
kept in place tags, and a coordinator lost mid-job reported as an infrastructure error.
"""
