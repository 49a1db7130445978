"""tuiflow's exit codes, in one place (docs/cli.md lists them for users)."""

EXIT_OK = 0              # every task succeeded or was skipped
EXIT_FAILED = 1          # a task failed, timed out or was cancelled
EXIT_INVALID = 2         # an invalid pipeline or command line
EXIT_INTERNAL = 70       # a bug in tuiflow itself (EX_SOFTWARE)
EXIT_FLUSH_FAILED = 120  # the output could not be written (the code Python's own exit gives for it)
# A run ended by a signal exits 128 + its number: see engine/stopsignals.py.
