"""`python3 -m simk8s.apiserver`: the API server (server.py has the usage)."""
import sys

from simk8s.apiserver import server

sys.exit(server.main())
