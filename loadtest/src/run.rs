//! One run: join the participants at the ramp rate, hold the load, leave, report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cli::{Cli, TargetKind};
use crate::cost::{CostProbe, CostSample};
use crate::engine::{Engine, EngineHandle, Snapshot};
use crate::progress::Progress;
use crate::report::{self, Inputs, Machine, Participants, Report};
use crate::scenario;
use crate::target::janus::{self, JanusTarget};
use crate::target::sfu::SfuTarget;
use crate::target::token::TokenSource;
use crate::target::{JOIN_TIMEOUT, Outcome, ParticipantPlan};

/// How long leaving may take before the run ends anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the scenario of `cli` and returns its report (also printed and written as JSON).
pub async fn run(cli: Cli) -> Result<Report> {
    let common = &cli.common;
    if common.ramp <= 0.0 {
        bail!("--ramp must be positive");
    }
    let started_unix_s = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let loadavg_start = report::loadavg();
    let room = common
        .room
        .clone()
        .unwrap_or_else(|| format!("lt-{}-{:08x}", cli.scenario.name(), rand::random::<u32>()));
    let plans = scenario::plan(&cli.scenario, common, &room);
    let planned = plans.len();
    let publishers = plans.iter().filter(|p| !p.publish.is_empty()).count();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let metrics_url = common.metrics_url.clone().or_else(|| {
        (common.target == TargetKind::Sfu)
            .then(|| format!("{}/metrics", common.url.trim_end_matches('/')))
    });
    let cost = CostProbe::new(metrics_url, common.server_pid, http.clone());
    let baseline = cost.sample().await;
    let mut peak_rss = baseline.rss_bytes;

    if common.target == TargetKind::Janus {
        janus::create_room(&janus_target(&cli, http.clone()), planned).await?;
    }
    let engine = Engine::start(common.bind_ip)?;
    let handle = engine.handle();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let spawn = spawner(&cli, http.clone())?;

    let mut progress = Progress::new(Instant::now());
    let mut next_line = Instant::now() + Duration::from_secs(1);
    let mut tick = |snap: &Snapshot, c: &CostSample, peak: &mut Option<u64>| {
        *peak = (*peak).max(c.rss_bytes).max(c.peak_rss_bytes);
        if !common.quiet {
            eprintln!("{}", progress.line(snap, c, planned, Instant::now()));
        }
    };

    // Ramp: one participant every 1/ramp seconds.
    let interval = Duration::from_secs_f64(1.0 / common.ramp);
    let ramp_start = Instant::now();
    for (i, plan) in plans.into_iter().enumerate() {
        let at = ramp_start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        spawn(&mut tasks, handle.clone(), plan, stop_rx.clone());
        if Instant::now() >= next_line {
            next_line += Duration::from_secs(1);
            tick(&handle.snapshot(), &cost.sample().await, &mut peak_rss);
        }
    }
    // Wait until everyone connected or failed (bounded by the join timeout).
    let settle_deadline = Instant::now() + JOIN_TIMEOUT + Duration::from_secs(2);
    loop {
        let snap = handle.snapshot();
        if snap.connected + snap.failed + (planned - tasks.len().min(planned)) >= planned
            && snap.conns >= planned.min(snap.conns.max(1))
            || Instant::now() >= settle_deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        if Instant::now() >= next_line {
            next_line += Duration::from_secs(1);
            tick(&snap, &cost.sample().await, &mut peak_rss);
        }
    }

    // The measurement window: full load held for --duration.
    handle.measure(true);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let window_start = handle.snapshot();
    let cost_start = cost.sample().await;
    let window_began = Instant::now();
    let window_end_at = window_began + common.duration;
    while Instant::now() < window_end_at {
        let step = window_end_at
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1));
        tokio::time::sleep(step).await;
        if Instant::now() >= next_line {
            next_line += Duration::from_secs(1);
            tick(&handle.snapshot(), &cost.sample().await, &mut peak_rss);
        }
    }
    // Let the engine publish a fresh snapshot covering the whole window.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let window_end = handle.snapshot();
    let cost_end = cost.sample().await;
    let window_s = window_began.elapsed().as_secs_f64();
    peak_rss = peak_rss
        .max(cost_end.rss_bytes)
        .max(cost_end.peak_rss_bytes);
    handle.measure(false);

    // Leave.
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::new();
    let leave_deadline = tokio::time::Instant::now() + LEAVE_TIMEOUT;
    while let Ok(Some(joined)) = tokio::time::timeout_at(leave_deadline, tasks.join_next()).await {
        if let Ok(outcome) = joined {
            outcomes.push(outcome);
        }
    }
    tasks.abort_all();
    let end = engine.shutdown();
    if common.target == TargetKind::Janus {
        janus::destroy_room(&janus_target(&cli, http.clone())).await;
    }

    let connected = outcomes.iter().filter(|o| o.connected).count();
    let mut failure_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        if let Some(e) = &o.error {
            *failure_reasons.entry(e.clone()).or_default() += 1;
        }
    }
    let unfinished = planned.saturating_sub(outcomes.len());
    if unfinished > 0 {
        *failure_reasons.entry("did not finish".into()).or_default() += unfinished;
    }
    let failed = outcomes
        .iter()
        .filter(|o| !o.connected || o.error.is_some())
        .count()
        + unfinished;

    let (media, loss, feedback, mut server) = report::compute(&Inputs {
        end: &end,
        window_start: &window_start,
        window_end: &window_end,
        baseline,
        cost_start,
        cost_end,
        peak_rss,
        window_s,
        connected,
    });
    server.source = cost.source().to_owned();
    let report = Report {
        scenario: cli.scenario.name().to_owned(),
        target: format!("{:?}", common.target).to_lowercase(),
        started_unix_s,
        config: serde_json::json!({
            "scenario": format!("{:?}", cli.scenario),
            "publishers": publishers,
            "subscribers": planned - publishers,
            "room": room,
            "ramp_per_s": common.ramp,
            "duration_s": common.duration.as_secs_f64(),
            "layers_kbps": common.layers,
            "fps": common.fps,
            "keyframe_interval_s": common.keyframe_interval.as_secs_f64(),
            "audio_kbps": common.audio_kbps,
            "sub_layer": common.sub_layer,
        }),
        machine: Machine::detect(loadavg_start),
        participants: Participants {
            planned,
            connections: end.conns,
            connected,
            failed,
            failure_reasons,
        },
        join_ms: end.join,
        window_s,
        media,
        loss,
        feedback,
        latency_ms: window_end.latency,
        server,
    };
    println!("{}", report.table());
    std::fs::write(&common.json, serde_json::to_string_pretty(&report)?)?;
    eprintln!("report written to {}", common.json.display());
    Ok(report)
}

type SpawnFn =
    Box<dyn Fn(&mut JoinSet<Outcome>, EngineHandle, ParticipantPlan, watch::Receiver<bool>)>;

/// A function that starts one participant against the chosen target.
fn spawner(cli: &Cli, http: reqwest::Client) -> Result<SpawnFn> {
    let common = &cli.common;
    match common.target {
        TargetKind::Sfu => {
            let tokens = match (&common.api_key, &common.api_secret) {
                (Some(key), Some(secret)) => TokenSource::Key {
                    key: key.clone(),
                    secret: secret.clone(),
                },
                (None, None) => TokenSource::Dev,
                _ => bail!("--api-key and --api-secret go together"),
            };
            let target = Arc::new(SfuTarget {
                base_url: common.url.trim_end_matches('/').to_owned(),
                tokens,
                http,
            });
            Ok(Box::new(move |set, engine, plan, stop| {
                set.spawn(crate::target::sfu::run(target.clone(), engine, plan, stop));
            }))
        }
        TargetKind::Janus => {
            let target = janus_target(cli, http);
            Ok(Box::new(move |set, engine, plan, stop| {
                set.spawn(crate::target::janus::run(
                    target.clone(),
                    engine,
                    plan,
                    stop,
                ));
            }))
        }
    }
}

/// The Janus target of a run: the room id derives from the room name, so it is stable per run.
fn janus_target(cli: &Cli, http: reqwest::Client) -> Arc<JanusTarget> {
    Arc::new(JanusTarget {
        base_url: cli.common.janus_url.trim_end_matches('/').to_owned(),
        http,
        room: cli.common.janus_room,
    })
}
