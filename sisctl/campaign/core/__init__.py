"""What every campaign kind shares: the folder, append-only records, resume, the summary with an
honest status, JUnit, progress and telemetry. A kind (ext4crash/, fuzz/, bench/) brings its own
configuration, run loop and findings through `CampaignKind` (core/kind.py)."""
