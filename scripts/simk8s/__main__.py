"""`python3 -m simk8s COMMAND...`: the simcluster command (scripts/simcluster runs this)."""
import sys

from simk8s import command

sys.exit(command.main(sys.argv))
