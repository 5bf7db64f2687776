//! The distributed-load recipes of `deploy/`, checked offline: no cluster
//! and no CI service here, so what can be checked is checked.
//!
//! Kubernetes: `kubectl kustomize` builds `deploy/k8s` and `kubectl label
//! --local` decodes every object (a real Kubernetes client, no server
//! needed; skipped with a reason where kubectl is absent, `.ci/run`
//! installs it). The objects are then checked for what distributed load
//! needs: an Indexed Job whose completion index is the shard number and
//! whose size matches SHARDS, the scenario ConfigMap that parses and splits
//! that many ways, a ReadWriteMany results volume, a merge Job; and the
//! shell commands in the pods must parse as chat-harness command lines.
//!
//! GitHub Actions: the matrix and SHARDS agree, and its commands parse.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Parser;
use serde_json::Value;

use chat_harness::cli::Cli;
use chat_harness::load::dist::Shard;
use chat_harness::load::scenario::Scenario;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Turns a pod's `sh -c` line into argv: `${X:+...}` kept when X is set,
/// `$X` replaced, quotes dropped (the values here have no spaces).
fn argv(line: &str, env: &[(&str, &str)]) -> Vec<String> {
    let mut s = line.replace("exec ", "");
    for (k, v) in env {
        let optional = format!("${{{k}:+");
        while let Some(at) = s.find(&optional) {
            let end = at + s[at..].find('}').expect("closing brace");
            let inner = s[at + optional.len()..end].to_owned();
            s.replace_range(at..=end, if v.is_empty() { "" } else { &inner });
        }
        s = s.replace(&format!("${k}"), v);
    }
    s.split_whitespace().map(|w| w.replace('"', "")).collect()
}

fn parses(args: &[String]) -> Cli {
    Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn kubectl_objects(dir: &Path) -> Option<Vec<Value>> {
    if Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_err()
    {
        eprintln!(
            "SKIP: kubectl not found (Debian package kubernetes-client); manifests not decoded"
        );
        return None;
    }
    let built = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(built.status.success(), "kubectl kustomize: {built:?}");
    let mut label = Command::new("kubectl")
        .args([
            "label",
            "--local",
            "-f",
            "-",
            "chat-harness/checked=true",
            "-o",
            "json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    label
        .stdin
        .take()
        .unwrap()
        .write_all(&built.stdout)
        .unwrap();
    let out = label.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl label --local: {out:?}");
    let objects: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap();
    Some(objects)
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn pod_line(c: &Value) -> String {
    assert_eq!(c["command"], serde_json::json!(["sh", "-c"]));
    c["args"][0].as_str().unwrap().to_owned()
}

#[test]
fn kubernetes_manifests_describe_an_indexed_shard_job_and_a_merge() {
    let Some(objects) = kubectl_objects(&root().join("deploy/k8s")) else {
        return;
    };
    let run = &find(&objects, "ConfigMap", "chat-harness-run")["data"];
    let shards: u32 = run["SHARDS"].as_str().unwrap().parse().unwrap();

    // The scenario parses, and splits into SHARDS shards of whole cells.
    let text = find(&objects, "ConfigMap", "chat-harness-scenario")["data"]["scenario.toml"]
        .as_str()
        .unwrap();
    let scenario = Scenario::parse(text, "config.yaml").unwrap();
    for index in 0..shards {
        Shard {
            index,
            count: shards,
        }
        .cut(&scenario)
        .unwrap();
    }

    let pvc = find(&objects, "PersistentVolumeClaim", "chat-harness-results");
    assert!(pvc["spec"]["accessModes"]
        .as_array()
        .unwrap()
        .contains(&"ReadWriteMany".into()));

    let job = &find(&objects, "Job", "chat-harness-shards")["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    assert_eq!(job["completions"], shards);
    assert_eq!(job["parallelism"], shards);
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    let index_env = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "SHARD_INDEX")
        .expect("SHARD_INDEX");
    assert_eq!(
        index_env["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    assert_eq!(c["envFrom"][0]["configMapRef"]["name"], "chat-harness-run");
    let volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for m in c["volumeMounts"].as_array().unwrap() {
        assert!(volumes.contains(&m["name"].as_str().unwrap()), "{m}");
    }
    let claim = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "results")
        .unwrap();
    assert_eq!(
        claim["persistentVolumeClaim"]["claimName"],
        "chat-harness-results"
    );

    // Every pod's command line is one chat-harness accepts, for each index.
    let line = pod_line(c);
    for index in 0..shards {
        let i = index.to_string();
        let n = shards.to_string();
        for start in ["", "2026-05-01T12:00:00Z"] {
            let env = [
                ("SHARD_INDEX", i.as_str()),
                ("SHARDS", n.as_str()),
                ("TARGET", run["TARGET"].as_str().unwrap()),
                ("START_AT", start),
            ];
            let cli = parses(&argv(&line, &env));
            let chat_harness::cli::Command::Load(args) = cli.command else {
                panic!("{line}: not load");
            };
            assert_eq!(
                args.shard,
                Some(Shard {
                    index,
                    count: shards
                })
            );
            assert_eq!(args.start_at.is_some(), !start.is_empty());
            assert_eq!(
                args.report_dir,
                Some(PathBuf::from(format!("/results/shard-{index}")))
            );
            assert_eq!(args.scenario, PathBuf::from("/scenario/scenario.toml"));
        }
    }

    let merge = &find(&objects, "Job", "chat-harness-merge")["spec"]["template"]["spec"];
    let wait = pod_line(&merge["initContainers"][0]);
    assert!(wait.contains("\"partial\": false") && wait.contains("$SHARDS"));
    let line = pod_line(&merge["containers"][0]);
    let argv = argv(
        &line.replace("/results/shard-*", "/results/shard-0 /results/shard-1"),
        &[("SLO", run["SLO"].as_str().unwrap())],
    );
    let cli = parses(&argv);
    let chat_harness::cli::Command::Merge(args) = cli.command else {
        panic!("{line}: not merge");
    };
    assert_eq!(args.out, PathBuf::from("/results/merged"));
    args.config().unwrap();
}

#[test]
fn ci_matrix_example_runs_every_shard_then_merges() {
    let text = std::fs::read_to_string(root().join("deploy/github-actions.yml")).unwrap();
    let shards: u32 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("SHARDS: "))
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap();
    let matrix = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("shard: ["))
        .unwrap();
    let list: Vec<u32> = matrix
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    assert_eq!(list, (0..shards).collect::<Vec<_>>());
    let scenario = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("SCENARIO: "))
        .unwrap();
    let scenario = Scenario::load(&root().join(scenario)).unwrap();
    let commands: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("./chat-harness "))
        .collect();
    assert_eq!(commands.len(), 2, "a load and a merge");
    for index in 0..shards {
        let i = index.to_string();
        let load = commands[0]
            .replace("./", "")
            .replace("${{ inputs.target }}", "https://chat.example.com")
            .replace("${{ matrix.shard }}", &i)
            .replace(
                "${{ needs.build.outputs.start_at }}",
                "2026-05-01T12:00:00Z",
            );
        let n = shards.to_string();
        let cli = parses(&argv(
            &load,
            &[
                ("SHARDS", n.as_str()),
                ("SCENARIO", "scenarios/steady-chat.toml"),
            ],
        ));
        let chat_harness::cli::Command::Load(args) = cli.command else {
            panic!("not load");
        };
        args.shard.unwrap().cut(&scenario).unwrap();
    }
    let merge = commands[1]
        .replace("./", "")
        .replace("shard-*", "shard-0 shard-1");
    assert!(matches!(
        parses(&argv(&merge, &[])).command,
        chat_harness::cli::Command::Merge(_)
    ));
    assert!(text.contains("needs: shard") && text.contains("pattern: shard-*"));
}
