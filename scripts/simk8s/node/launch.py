"""Container launcher: joins the cgroup, enters or creates the namespaces, mounts volumes and resolv.conf, then execs the command.

Usage: python3 -m simk8s.node.launch SPEC.json   (run as root; replaces itself with the command, same PID)
The spec is written by runtime.py (containers, exec) or by simcluster (client).
"""
import ctypes
import json
import os
import socket
import sys

from simk8s import config

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

libc = ctypes.CDLL(None, use_errno=True)


def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def mount(src, dst, fstype, flags):
    check(libc.mount(src.encode() if src else None, dst.encode(), fstype.encode() if fstype else None,
                     ctypes.c_ulong(flags), None), "mount %s" % dst)


def setns_path(path, nstype):
    fd = os.open(path, os.O_RDONLY)
    try:
        check(libc.setns(fd, nstype), "setns %s" % path)
    finally:
        os.close(fd)


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    if spec.get("cgroupProcs"):
        with open(spec["cgroupProcs"], "w") as f:
            f.write(str(os.getpid()))
    if spec.get("nsPid"):
        # exec into a running container: open every namespace first, the mount one last.
        pid = spec["nsPid"]
        fds = [(os.open("/proc/%d/ns/%s" % (pid, n), os.O_RDONLY), t)
               for n, t in (("net", CLONE_NEWNET), ("uts", CLONE_NEWUTS), ("mnt", CLONE_NEWNS))]
        for fd, t in fds:
            check(libc.setns(fd, t), "setns")
            os.close(fd)
    else:
        check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        if spec.get("netns"):
            setns_path(spec["netns"], CLONE_NEWNET)
            if spec.get("sysfs", True):
                # Like `ip netns exec`: /sys shows this namespace's interfaces.
                if libc.umount2(b"/sys", MNT_DETACH) == 0:
                    mount("sysfs", "/sys", "sysfs", 0)
        for src, dst, ro in spec.get("mounts", []):
            mount(src, dst, None, MS_BIND)
            if ro:
                mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        if spec.get("hostname"):
            socket.sethostname(spec["hostname"])
    os.chdir(spec.get("cwd") or "/")
    env = config.caller_environ() if spec.get("inheritEnv") else {}
    env.update(spec.get("env") or {})
    argv = spec["argv"]
    binary = spec.get("binary") or argv[0]
    try:
        if "/" in binary:
            os.execve(binary, argv, env)
        os.execvpe(binary, argv, env)
    except OSError as e:
        sys.stderr.write("simcluster: exec %s: %s\n" % (binary, e.strerror))
        sys.exit(127)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        sys.stderr.write("simcluster launch: %s\n" % e)
        sys.exit(126)
