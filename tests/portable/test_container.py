#!/usr/bin/env python3
"""The container image (issue 28): scripts/build-image.sh builds it FROM scratch out of the
static executable; under podman (scripts/podman: runc, cgroupfs) it starts ss-server from a
mounted config, carries TCP and UDP from ss-local on the host, reloads on `podman kill -s HUP`
and stops cleanly (exit 0, after its SIGTERM drain) on `podman stop`. Its size is printed.

The Kubernetes manifests and the compose file of packaging/container/ are parsed (no Kubernetes
runs here) and checked against each other and the image: the container is started with the
Deployment's own arguments, mount path and the Secret's config (the password replaced), and
the liveness probe's port answers /metrics.

Runs in a network namespace of its own (the container shares it: --network host)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
import sslib  # noqa: E402

SOURCE = os.path.normpath(os.path.join(os.path.dirname(__file__), "../.."))
PODMAN = os.path.join(SOURCE, "scripts/podman")
STATIC = os.environ.get("SS_STATIC") == "1"
MANIFESTS = os.path.join(SOURCE, "packaging/container/kubernetes.yaml")
COMPOSE = os.path.join(SOURCE, "packaging/container/compose.yaml")
PLACEHOLDER = "change-me-to-a-long-random-password"


def podman(*args, timeout=120):
    return subprocess.run([PODMAN, *[str(a) for a in args]], capture_output=True, text=True,
                          timeout=timeout)


def load_yaml(path):
    """Every document of a YAML file, parsed by PyYAML (Debian's python3-yaml: through
    /usr/bin/python3 when this interpreter has no yaml module)."""
    try:
        import yaml
        with open(path) as f:
            return list(yaml.safe_load_all(f))
    except ImportError:
        r = subprocess.run(["/usr/bin/python3", "-c", "import json, sys, yaml; "
                            "json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)"],
                           stdin=open(path), capture_output=True, text=True, check=True)
        return json.loads(r.stdout)


def why_not():
    if not STATIC:
        return "not the static build (SS_STATIC=1 runs these)"
    if os.geteuid() != 0:
        return "podman here runs as root"
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return None


class Manifests(unittest.TestCase):
    """The files alone: they parse, and they agree with each other and with the image."""

    def test_kubernetes_manifests(self):
        docs = {d["kind"]: d for d in load_yaml(MANIFESTS)}
        self.assertEqual(sorted(docs), ["Deployment", "Secret", "Service"])
        config = json.loads(docs["Secret"]["stringData"]["server.json"])
        self.assertEqual(config["password"], PLACEHOLDER)
        pod = docs["Deployment"]["spec"]["template"]["spec"]
        self.assertEqual(docs["Deployment"]["spec"]["selector"]["matchLabels"],
                         docs["Deployment"]["spec"]["template"]["metadata"]["labels"])
        self.assertEqual(docs["Service"]["spec"]["selector"],
                         docs["Deployment"]["spec"]["template"]["metadata"]["labels"])
        (container,) = pod["containers"]
        mount = container["volumeMounts"][0]
        self.assertEqual(pod["volumes"][0]["secret"]["secretName"],
                         docs["Secret"]["metadata"]["name"])
        self.assertEqual(container["args"][2], mount["mountPath"] + "/server.json")
        ports = {p["name"]: p for p in container["ports"]}
        self.assertEqual(ports["ss-tcp"]["containerPort"], config["server_port"])
        self.assertEqual(ports["metrics"]["containerPort"],
                         int(config["metrics"].rsplit(":", 1)[1]))
        self.assertEqual(container["livenessProbe"]["httpGet"]["port"], "metrics")
        self.assertEqual(pod["securityContext"]["runAsUser"], 65532)
        for p in docs["Service"]["spec"]["ports"]:
            self.assertIn(p["targetPort"], ports)

    def test_compose_file(self):
        (compose,) = load_yaml(COMPOSE)
        service = compose["services"]["ss-server"]
        deployment = next(d for d in load_yaml(MANIFESTS) if d["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(service["command"], container["args"])
        self.assertEqual(service["volumes"][0].split(":")[1],
                         container["volumeMounts"][0]["mountPath"])
        self.assertEqual(service["image"], container["image"])


class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        reason = why_not() or sslib.enter_new_netns()
        if reason:
            raise unittest.SkipTest(reason)
        cls.tag = f"localhost/shadowsocks-cpp-test:{os.getpid()}"
        env = dict(os.environ, SS_STATIC_BUILD_DIR=os.path.dirname(sslib.BIN_DIR))
        r = subprocess.run([os.path.join(SOURCE, "scripts/build-image.sh"), cls.tag],
                           capture_output=True, text=True, timeout=600, env=env)
        if r.returncode != 0:
            raise AssertionError(f"build-image.sh failed:\n{r.stdout}{r.stderr}")
        print(f"\n{r.stdout.strip()}", flush=True)  # the image's size, for the log
        cls.size = int(re.search(r": (\d+) bytes", r.stdout).group(1))
        cls.tmp = tempfile.mkdtemp(prefix="ss-container-")

    @classmethod
    def tearDownClass(cls):
        podman("rmi", "-f", cls.tag)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_image_holds_the_executable_and_little_else(self):
        self.assertLess(self.size, 12 << 20)
        r = podman("image", "inspect", "--format", "{{json .Config}}", self.tag)
        config = json.loads(r.stdout)
        self.assertEqual(config["User"], "65532:65532")
        self.assertEqual(config["Entrypoint"], ["/usr/bin/shadowsocks-cpp"])
        # The default command is the one the Deployment and the compose file give.
        deployment = next(d for d in load_yaml(MANIFESTS) if d["kind"] == "Deployment")
        self.assertEqual(config["Cmd"],
                         deployment["spec"]["template"]["spec"]["containers"][0]["args"])
        r = podman("run", "--rm", "--network", "host", self.tag, "--version")
        self.assertEqual(r.stdout.strip(), "shadowsocks-cpp 0.1.0", r.stderr)
        r = podman("run", "--rm", "--network", "host", "--entrypoint", "/usr/bin/ss-local",
                   self.tag, "--version")
        self.assertEqual(r.stdout.strip(), "ss-local 0.1.0", r.stderr)

    def start_from_manifest(self, password):
        """The container as the Deployment runs it: its arguments, its mount path, the
        Secret's config (with a real password and the test's targets on loopback allowed)."""
        docs = {d["kind"]: d for d in load_yaml(MANIFESTS)}
        container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        config = json.loads(docs["Secret"]["stringData"]["server.json"])
        config.update(password=password, outbound_allow_private=True)
        folder = tempfile.mkdtemp(dir=self.tmp)
        path = os.path.join(folder, "server.json")
        with open(path, "w") as f:
            json.dump(config, f)
        # The image's user reads it, and nobody else (the docs say the same).
        os.chown(path, 65532, 65532)
        os.chmod(path, 0o600)
        os.chmod(folder, 0o755)
        name = f"ss-test-{os.getpid()}-{len(os.listdir(self.tmp))}"
        mount = container["volumeMounts"][0]["mountPath"]
        r = podman("run", "-d", "--name", name, "--network", "host",
                   "-v", f"{folder}:{mount}:ro", self.tag, *container["args"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(podman, "rm", "-f", name)
        return name, path, config

    def logs(self, name):
        r = podman("logs", name)
        return r.stdout + r.stderr

    def wait_log(self, name, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.logs(name)
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"no /{pattern}/ in the container's log:\n{self.logs(name)}")

    def relay_through(self, server_port, method, password):
        target, target_port = sslib.serve(sslib.exchange_handler)
        echo = sslib.UdpServer()
        local, local_port = sslib.our_local(server_port, method, password, "-u")
        try:
            with sslib.running(local):
                with sslib.socks5_connect(local_port, "127.0.0.1", target_port) as s:
                    sslib.exchange(s, 1 << 20, 1 << 20)
                control, relay = sslib.socks5_udp_associate(local_port)
                with control, sslib.udp_client() as c:
                    payload = os.urandom(500)
                    _, _, data = sslib.udp_roundtrip(c, relay, "127.0.0.1", echo.port, payload)
                    self.assertEqual(data, payload)
        finally:
            sslib.stop_server(target)
            echo.stop()

    def test_serves_reloads_and_stops_cleanly(self):
        name, path, config = self.start_from_manifest("first-password-of-the-container")
        self.wait_log(name, r"listening on 0\.0\.0\.0:8388")
        port, method = config["server_port"], config["method"]
        self.relay_through(port, method, "first-password-of-the-container")
        # The liveness probe's port answers.
        metrics = config["metrics"].replace("0.0.0.0", "127.0.0.1")
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertIn(b"shadowsocks_", r.read())
        # Reload: a new password for new connections, on `podman kill -s HUP`.
        config["password"] = "second-password-after-reload"
        with open(path, "w") as f:
            json.dump(config, f)
        r = podman("kill", "-s", "HUP", name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_log(name, r"configuration reloaded")
        self.relay_through(port, method, "second-password-after-reload")
        # Stop: SIGTERM, the drain, exit code 0.
        r = podman("stop", "-t", "20", name, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = podman("inspect", "--format", "{{.State.ExitCode}}", name)
        self.assertEqual(r.stdout.strip(), "0", self.logs(name))
        self.assertIn("stopped", self.logs(name))


if __name__ == "__main__":
    unittest.main(verbosity=2)
