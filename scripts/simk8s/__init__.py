"""simk8s: the simulated Kubernetes cluster behind the `scripts/simcluster` command (docs/simcluster.md).

command.py: the subcommands (up, down, status, exec, client, logs...);
config.py: fixed names, addresses and paths; statefile.py: state.json and the
ledger of what `up` created. node/: the simulated node (network, runtime,
kubelet, DNS). apiserver/: the read-only API server that serves state.json.
scripts/simcluster runs `python3 -m simk8s` with scripts/ on PYTHONPATH.
"""
