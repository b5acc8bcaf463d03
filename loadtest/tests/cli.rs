//! The `loadtest` binary's command line: its scenarios are listed, bad flags are refused, and
//! `compare` turns reports into tables and a chart. (Having an integration test also makes
//! `cargo test --workspace` build `target/<profile>/loadtest`, which the smoke runs of
//! `tests/tests/loadtest_smoke.rs` start.)

use std::path::Path;
use std::process::Command;

fn loadtest() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadtest"))
}

#[test]
fn help_lists_every_scenario() {
    let out = loadtest().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for scenario in ["meeting", "webinar", "audio", "compare"] {
        assert!(text.contains(scenario), "{scenario} missing from:\n{text}");
    }
}

#[test]
fn an_unknown_layer_cap_is_refused() {
    let out = loadtest()
        .args(["--sub-layer", "x", "webinar"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sub-layer"));
}

#[test]
fn compare_writes_tables_and_a_chart_from_the_committed_reports() {
    let reports = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks");
    let mut files: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let dir = std::env::temp_dir().join(format!("loadtest-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let md = dir.join("c.md");
    let svg = dir.join("c.svg");
    let out = loadtest()
        .arg("compare")
        .arg("--out")
        .arg(&md)
        .arg("--chart")
        .arg(&svg)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tables = std::fs::read_to_string(&md).unwrap();
    assert!(
        tables.contains("| sfu |") && tables.contains("| janus |"),
        "{tables}"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}
