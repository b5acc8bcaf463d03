//! Command-line interface: one subcommand per scenario, common flags for all of them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Simulated WebRTC participants against a running SFU (or Janus), with a report.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version, about)]
pub struct Cli {
    /// Flags shared by every scenario.
    #[command(flatten)]
    pub common: Common,
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Which server to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// This project's SFU (API.md signalling over WebSocket).
    Sfu,
    /// A Janus VideoRoom over the Janus HTTP API.
    Janus,
}

/// Flags shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The server to load.
    #[arg(long, value_enum, default_value = "sfu", global = true)]
    pub target: TargetKind,
    /// The SFU's HTTP base URL (REST, WebSocket, /metrics).
    #[arg(long, default_value = "http://127.0.0.1:7880", global = true)]
    pub url: String,
    /// Janus HTTP API base URL (with `--target janus`).
    #[arg(long, default_value = "http://127.0.0.1:8088/janus", global = true)]
    pub janus_url: String,
    /// Janus VideoRoom room id (created for the run, destroyed after).
    #[arg(long, default_value_t = 4242, global = true)]
    pub janus_room: u64,
    /// API key to sign tokens with; without it tokens come from `POST /v1/dev/token`.
    #[arg(long, env = "LOADTEST_API_KEY", global = true)]
    pub api_key: Option<String>,
    /// The API key's secret.
    #[arg(
        long,
        env = "LOADTEST_API_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub api_secret: Option<String>,
    /// Room name (default: a fresh `lt-<scenario>-<random>`).
    #[arg(long, global = true)]
    pub room: Option<String>,
    /// Participants joining per second.
    #[arg(long, default_value_t = 10.0, global = true)]
    pub ramp: f64,
    /// How long to hold the full load once everyone joined (the measurement window).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub duration: Duration,
    /// Simulcast layer bitrates in kbit/s, lowest first (q,h,f); one value = no simulcast.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "150,500,1500",
        global = true
    )]
    pub layers: Vec<u64>,
    /// Video frames per second of every layer.
    #[arg(long, default_value_t = 30, global = true)]
    pub fps: u32,
    /// Keyframe interval of published video.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration, global = true)]
    pub keyframe_interval: Duration,
    /// Opus bitrate in kbit/s (50 packets/s).
    #[arg(long, default_value_t = 32, global = true)]
    pub audio_kbps: u64,
    /// Highest simulcast layer subscribers take (`q`, `h` or `f`: a small tile, a medium one,
    /// full size); none = the server decides from bandwidth.
    #[arg(long, global = true, value_parser = ["q", "h", "f"])]
    pub sub_layer: Option<String>,
    /// Local IP the simulated participants bind their UDP sockets to.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    pub bind_ip: IpAddr,
    /// PID of the server process, to read its CPU and memory from /proc.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Prometheus URL of the server (default: `<url>/metrics` for the SFU, none for Janus).
    #[arg(long, global = true)]
    pub metrics_url: Option<String>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "loadtest-report.json", global = true)]
    pub json: PathBuf,
    /// No progress lines while running.
    #[arg(long, global = true)]
    pub quiet: bool,
}

/// The load shapes.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// N participants each publishing audio and simulcast video and subscribing to all others.
    Meeting {
        /// Participants in the room.
        #[arg(long, short = 'n', default_value_t = 4)]
        participants: usize,
    },
    /// P publishers (audio and simulcast video), S subscribers receiving them at a cap.
    Webinar {
        /// Publishers.
        #[arg(long, short = 'p', default_value_t = 1)]
        publishers: usize,
        /// Subscribers (publish nothing).
        #[arg(long, short = 's', default_value_t = 10)]
        subscribers: usize,
    },
    /// An audio-only room: every participant publishes Opus and hears all others.
    Audio {
        /// Participants in the room.
        #[arg(long, short = 'n', default_value_t = 20)]
        participants: usize,
    },
    /// Not a load: compares JSON reports side by side (markdown) and charts server CPU
    /// against webinar subscribers (SVG).
    Compare {
        /// Where to write the markdown tables.
        #[arg(long, default_value = "comparison.md")]
        out: PathBuf,
        /// Where to write the SVG chart.
        #[arg(long)]
        chart: Option<PathBuf>,
        /// The JSON reports.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
}

impl Scenario {
    /// The scenario's name.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Meeting { .. } => "meeting",
            Scenario::Webinar { .. } => "webinar",
            Scenario::Audio { .. } => "audio",
            Scenario::Compare { .. } => "compare",
        }
    }
}
