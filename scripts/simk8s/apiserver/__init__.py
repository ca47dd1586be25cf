"""The simulated cluster's read-only Kubernetes API server (HTTPS on loopback), run as `python3 -m simk8s.apiserver`.

server.py: HTTP, TLS, routing, watch, errors; store.py: the state file as API
objects (pods.py, workloads.py build them, util.py helps); resources.py: the
served types and discovery; selection.py: label and field selectors;
table.py: kubectl's Table output; tls.py: CA, certificate, token, kubeconfig;
portforward.py over websocket.py and spdy.py: pods/portforward.
"""
