"""A minimal read-only Kubernetes API server on loopback for simcluster (HTTPS, bearer token).

Usage (PYTHONPATH=scripts; scripts/simcluster up starts it so):
  python3 -m simk8s.apiserver --state STATE_JSON --listen 127.0.0.1:6443 \
      --kubeconfig-out PATH [--certdir DIR] [--san HOST]...

On start it creates (once, then reuses) in --certdir (default: the kubeconfig's
directory) a CA (ca.key, ca.crt), a server certificate for 127.0.0.1/localhost
(apiserver.key, apiserver.crt) with the `openssl` CLI, and a bearer token
(token). It binds, then writes the kubeconfig (context `simcluster`, namespace
default): the kubeconfig appearing means the server accepts connections. Port 0
picks a free port, written into the kubeconfig. SIGTERM/SIGINT stop it cleanly.

State file (written by scripts/simcluster; re-read whenever its mtime, size or
inode changes; write it atomically with rename, a half-written file is ignored):
{ "node": {"name": "sim-node-1", "internalIP": "169.254.123.2",
           "podCIDR": "10.244.0.0/24", "labels": {...}?},
  "nodes": [ same as "node", one per node ]?,   # several nodes: a Node object each
  "createdAt": "RFC3339 or epoch seconds"?,     # creation time of manifest objects
  "objects": [ raw manifest objects as JSON: Namespace, ConfigMap, Deployment,
               StatefulSet, DaemonSet, Service, Pod, ServiceAccount, Secret ],
  "pods": [ {"name", "namespace", "uid"?, "labels", "annotations"?, "podIP",
             "podIPs"?, "hostIP", "nodeName", "phase", "ready", "startTime",
             "owner": {"kind": "ReplicaSet|StatefulSet|DaemonSet", "name", "uid"?},
             "spec": pod spec from the template,
             "containers": [{"name", "containerID": "containerd://<64hex>", "image",
                             "ready", "pid", "restartCount"?, "startedAt"?}] } ],
  "replicasets": [ {"name", "namespace", "uid"?, "labels",
                    "owner": {"kind": "Deployment", "name", "uid"?}, "replicas",
                    "template", "selector"} ],
  "services": [ {"name", "namespace", "clusterIP"} ] }
Fields marked ? are optional. A missing uid is uuid5(NAMESPACE_URL,
"simcluster:KIND/NAMESPACE/NAME") (NAMESPACE empty for cluster-scoped kinds);
a uid given in an owner reference becomes the owner's uid. A Deployment with no
ReplicaSet entry gets one derived from its pods' owner name or template hash.

Served (GET; watch=true streams changes): /version /healthz /api /apis /api/v1
/apis/apps /apis/apps/v1, namespaces nodes pods services endpoints configmaps
serviceaccounts (v1), deployments replicasets statefulsets daemonsets (apps/v1),
list and get, per namespace and across namespaces, labelSelector and
fieldSelector, Table output for kubectl. Secrets and every write verb answer
403. pods/portforward speaks kubectl's WebSocket-tunnelled SPDY (and plain SPDY)
port-forward protocol into the pod's network namespace (portforward.py).
Docs: docs/simcluster-api.md.
"""

import argparse
import datetime
import hmac
import http.server
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

from simk8s.apiserver import portforward, resources, selection, store, table, tls

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-simcluster",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.3", "compiler": "gc",
           "platform": "linux/amd64"}
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
MAX_BODY = 4 << 20
WATCH_POLL = 0.5
WATCH_MAX_SECONDS = 1800


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class ApiError(Exception):
    """An error answered as a Status object."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def status_object(code, reason, message, details=None):
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason}
    if details is not None:
        obj["details"] = details
    obj["code"] = code
    return obj


def _qualified(res):
    return res.name if not res.group else "%s.%s" % (res.name, res.group)


def not_found(res, name):
    details = {"name": name, "kind": res.name}
    if res.group:
        details["group"] = res.group
    return ApiError(404, "NotFound", '%s "%s" not found' % (_qualified(res), name), details)


def forbidden(res, verb, ns, name):
    subject = '%s "%s"' % (_qualified(res), name) if name else _qualified(res)
    where = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
    details = {"kind": res.name}
    if name:
        details["name"] = name
    if res.group:
        details["group"] = res.group
    return ApiError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s resource "%s" in '
                    'API group "%s" %s' % (subject, tls.USER, verb, res.name, res.group, where),
                    details)


def no_route():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


# -- subresource hooks -------------------------------------------------------
def portforward_hook(handler, view, res, ns, name):
    """pods/portforward: WebSocket (SPDY tunnel) or SPDY upgrade, relayed into the pod's netns.

    Takes the connection over (see portforward.py); answers a Status
    when the request is not an upgrade or the pod is not running.
    """
    pod = handler._find(view, res, ns, name)
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise ApiError(400, "BadRequest", "pod %s is not running (phase %s): cannot forward "
                       "ports" % (name, phase))
    entry = next((p for p in view.state.get("pods") or [] if isinstance(p, dict) and
                  p.get("name") == name and (p.get("namespace") or "default") == ns), None)
    try:
        target = portforward.target_for(entry, pod)
        handler.close_connection = True
        n = portforward.upgrade(handler, target, handler.server.stopping, log)
    except portforward.Refused as err:
        raise ApiError(err.code, err.reason, err.message)
    handler._log_done(101, 0)
    log("apiserver: portforward %s/%s: %d connection(s) forwarded" % (ns, name, n))


SUBRESOURCE_HOOKS = {("pods", "portforward"): portforward_hook}


class Route:
    """What a request path names: a discovery document or resource (+ namespace, name, sub)."""

    def __init__(self, doc=None, res=None, ns=None, name=None, sub=None):
        self.doc, self.res, self.ns, self.name, self.sub = doc, res, ns, name, sub


def parse_route(path):
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
    if parts == ["api"]:
        return Route(doc=("api",))
    if parts == ["apis"]:
        return Route(doc=("apis",))
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 2 and parts[0] == "apis":
        if len(parts) == 2:
            return Route(doc=("group", parts[1]))
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise no_route()
    if not rest:
        return Route(doc=("resources", group, version))
    if resources.api_resource_list(group, version) is None:
        raise no_route()
    ns = None
    if rest[0] == "namespaces" and len(rest) >= 3 and (
            len(rest) > 3 or resources.find(group, version, rest[2])):
        ns, rest = rest[1], rest[2:]
    res = resources.find(group, version, rest[0])
    if res is None or len(rest) > 3 or (ns is not None and not res.namespaced):
        raise no_route()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if res.namespaced and name is not None and ns is None:
        raise no_route()
    return Route(res=res, ns=ns, name=name, sub=sub)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "simcluster-apiserver"
    sys_version = ""

    # -- connection setup: TLS handshake in the worker thread ---------------
    def setup(self):
        self.request.settimeout(30)
        # Port-forward streams relay small writes both ways (as the real API
        # server and kubelet, which are Go and set it by default).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            try:
                self.request.close()
            except OSError:
                pass

    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, fmt, *args):
        log("apiserver: %s %s" % (self.client_address[0], fmt % args))

    def _log_done(self, code, size):
        took = (time.monotonic() - self._t0) * 1000
        agent = self.headers.get("User-Agent", "-") if self.headers else "-"
        log('apiserver: %s %s %s %d %dB %.1fms "%s"' % (
            self.client_address[0], self.command, self.path, code, size, took, agent))

    # -- responses -----------------------------------------------------------
    def _pretty(self):
        q = self._query.get("pretty", [""])[0]
        if q:
            return q == "true"
        agent = self.headers.get("User-Agent", "")
        return agent.startswith("curl/") or agent.startswith("Wget/")

    def _send(self, code, body, ctype="application/json", extra=None):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body, indent=2 if self._pretty() else None,
                              separators=None if self._pretty() else (",", ":")) + "\n"
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", "%x" % id(self))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._log_done(code, len(body))

    def send_error(self, code, message=None, explain=None):
        """Errors http.server finds itself (bad request line, headers) as Status JSON."""
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        try:
            phrase = http.HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        body = (json.dumps(status_object(code, phrase.replace(" ", "").replace("-", ""),
                                         message or phrase)) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, err):
        extra = {"Www-Authenticate": 'Bearer realm="simcluster"'} if err.code == 401 else None
        self._send(err.code, status_object(err.code, err.reason, err.message, err.details),
                   extra=extra)

    # -- dispatch ------------------------------------------------------------
    def _handle(self):
        self._t0 = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        self._query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        try:
            self._discard_body()
            if url.path in ("/healthz", "/livez", "/readyz"):
                return self._send(200, "ok", "text/plain; charset=utf-8")
            if url.path not in PUBLIC_PATHS:
                self._authenticate()
            if url.path == "/version":
                return self._send(200, VERSION)
            self._dispatch(url.path)
        except ApiError as err:
            self._send_error(err)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, ssl.SSLError):
            self.close_connection = True
        except Exception as err:  # a bug must not kill the connection thread silently
            log("apiserver: internal error on %s %s: %r" % (self.command, self.path, err))
            import traceback
            traceback.print_exc()
            self._send_error(ApiError(500, "InternalError", "internal error: %s" % err))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _discard_body(self):
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return
        if length:
            try:
                n = int(length)
            except ValueError:
                raise ApiError(400, "BadRequest", "invalid Content-Length")
            if n > MAX_BODY:
                self.close_connection = True
                raise ApiError(413, "RequestEntityTooLarge", "request body too large")
            self.rfile.read(n)

    def _authenticate(self):
        auth = self.headers.get("Authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.server.token.encode()):
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _verb(self, route):
        if self.command in ("GET", "HEAD"):
            if route.name is None:
                return "watch" if self._query.get("watch", [""])[0] in ("true", "1") else "list"
            return "get"
        if self.command == "DELETE":
            return "delete" if route.name else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}[self.command]

    def _dispatch(self, path):
        route = parse_route(path)
        if route.doc:
            return self._discovery(route.doc)
        res = route.res
        view = self.server.store.current()
        if route.sub:
            hook = SUBRESOURCE_HOOKS.get((res.name, route.sub))
            if hook is None:
                raise no_route()
            self._find(view, res, route.ns, route.name)
            return hook(self, view, res, route.ns, route.name)
        verb = self._verb(route)
        if not res.served or verb not in ("get", "list", "watch"):
            raise forbidden(res, verb, route.ns, route.name)
        if verb == "get":
            obj = self._find(view, res, route.ns, route.name)
            if self._wants_table():
                return self._send(200, table.to_table(res.name, [obj],
                                                      obj["metadata"]["resourceVersion"],
                                                      self._include()))
            return self._send(200, obj)
        items = self._select(view, res, route.ns)
        if verb == "watch":
            return self._watch(res, route.ns, items)
        rv = self.server.store.resource_version()
        if self._wants_table():
            return self._send(200, table.to_table(res.name, items, rv, self._include()))
        listed = []
        for obj in items:
            obj = dict(obj)
            obj.pop("kind", None)
            obj.pop("apiVersion", None)
            listed.append(obj)
        return self._send(200, {"kind": res.kind + "List", "apiVersion": resources.api_version(res),
                                "metadata": {"resourceVersion": rv}, "items": listed})

    def _discovery(self, doc):
        if doc[0] == "api":
            host, port = self.server.server_address[:2]
            return self._send(200, resources.api_versions("%s:%d" % (host, port)))
        if doc[0] == "apis":
            return self._send(200, resources.api_group_list())
        body = resources.api_group(doc[1]) if doc[0] == "group" else \
            resources.api_resource_list(doc[1], doc[2])
        if body is None:
            raise no_route()
        return self._send(200, body)

    def _find(self, view, res, ns, name):
        for obj in view.objects.get(res.name, []):
            meta = obj["metadata"]
            if meta["name"] == name and meta.get("namespace") == (ns if res.namespaced else None):
                return obj
        raise not_found(res, name)

    def _select(self, view, res, ns):
        try:
            labels = selection.parse_label_selector(self._query.get("labelSelector", [""])[0])
            fields = selection.parse_field_selector(self._query.get("fieldSelector", [""])[0],
                                                 resources.allowed_fields(res))
        except selection.SelectorError as err:
            raise ApiError(400, "BadRequest", str(err))
        out = []
        for obj in view.objects.get(res.name, []):
            meta = obj["metadata"]
            if ns is not None and meta.get("namespace") != ns:
                continue
            if selection.labels_match(labels, meta.get("labels")) and \
                    selection.fields_match(fields, obj):
                out.append(obj)
        return out

    def _wants_table(self):
        accept = self.headers.get("Accept", "")
        for part in accept.split(","):
            params = [p.strip() for p in part.split(";")]
            if params[0] in ("application/json", "*/*") and "as=Table" in params and \
                    "g=meta.k8s.io" in params:
                return True
        return False

    def _include(self):
        value = self._query.get("includeObject", ["Metadata"])[0]
        return value if value in ("None", "Metadata", "Object") else "Metadata"

    # -- watch ---------------------------------------------------------------
    def _watch(self, res, ns, items):
        """Streams ADDED/MODIFIED/DELETED events by polling the state file."""
        since = self._query.get("resourceVersion", [""])[0]
        try:
            since = int(since) if since not in ("", "0") else None
        except ValueError:
            raise ApiError(400, "BadRequest", "invalid resourceVersion %r" % since)
        try:
            limit = min(WATCH_MAX_SECONDS, int(self._query.get("timeoutSeconds", ["0"])[0])
                        or WATCH_MAX_SECONDS)
        except ValueError:
            limit = WATCH_MAX_SECONDS
        as_table = self._wants_table()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.request.settimeout(None)
        sent = 0
        known = {}

        def emit(kind, obj):
            nonlocal sent
            payload = table.to_table(res.name, [obj], obj["metadata"]["resourceVersion"],
                                     self._include()) if as_table else obj
            line = (json.dumps({"type": kind, "object": payload}, separators=(",", ":")) +
                    "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            sent += len(line)

        for obj in items:
            uid = obj["metadata"]["uid"]
            known[uid] = obj
            if since is None or int(obj["metadata"]["resourceVersion"]) > since:
                emit("ADDED", obj)
        deadline = time.monotonic() + limit
        try:
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                self.server.stopping.wait(WATCH_POLL)
                view = self.server.store.current()
                now = {o["metadata"]["uid"]: o for o in self._select(view, res, ns)}
                for uid, obj in now.items():
                    old = known.get(uid)
                    if old is None:
                        emit("ADDED", obj)
                    elif old["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                        emit("MODIFIED", obj)
                for uid, obj in known.items():
                    if uid not in now:
                        emit("DELETED", obj)
                known = now
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            self.close_connection = True
            self._log_done(200, sent)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        err = sys.exc_info()[1]
        log("apiserver: %s connection error: %s" % (client_address[0], err))


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host.strip("[]") or "127.0.0.1", int(port)


def main():
    ap = argparse.ArgumentParser(prog="python3 -m simk8s.apiserver", description=__doc__.split("\n")[0])
    ap.add_argument("--state", required=True, help="simcluster state JSON file")
    ap.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 6443),
                    help="HOST:PORT to bind (port 0: any free port)")
    ap.add_argument("--kubeconfig-out", required=True, help="kubeconfig file to write")
    ap.add_argument("--certdir", help="CA, server cert and token (default: kubeconfig's dir)")
    ap.add_argument("--san", action="append", default=[],
                    help="extra IP or DNS name for the server certificate")
    args = ap.parse_args()
    host, port = args.listen
    certdir = args.certdir or os.path.dirname(os.path.abspath(args.kubeconfig_out))
    try:
        token = tls.ensure_credentials(certdir, tls.server_sans(host, args.san))
    except (OSError, RuntimeError) as err:
        log("apiserver: cannot create credentials in %s: %s" % (certdir, err))
        return 1
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(certdir, tls.SERVER_CERT),
                        os.path.join(certdir, tls.SERVER_KEY))
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        os.unlink(args.kubeconfig_out)
    except FileNotFoundError:
        pass
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        httpd = Server((host, port), Handler)
    except OSError as err:
        log("apiserver: cannot listen on %s:%d: %s" % (host, port, err))
        return 1
    httpd.ssl_context = ctx
    httpd.token = token
    httpd.stopping = threading.Event()
    httpd.store = store.StateStore(args.state, log)
    httpd.store.current()
    port = httpd.server_address[1]
    url = "https://%s:%d" % ("[%s]" % host if ":" in host else host, port)
    tls.write_kubeconfig(args.kubeconfig_out, url, certdir, token)

    def stop(signum, _frame):
        log("apiserver: signal %d, shutting down" % signum)
        httpd.stopping.set()
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("apiserver: serving %s (state %s, kubeconfig %s, started %s)" % (
        url, args.state, args.kubeconfig_out,
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        httpd.server_close()
    log("apiserver: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
