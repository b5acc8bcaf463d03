//! `loadtest compare`: side-by-side tables of JSON reports and the chart of server CPU against
//! subscribers (webinar runs) for each server.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde_json::Value;

/// Reads the reports, writes the markdown comparison to `out` and the chart to `chart`.
pub fn compare(reports: &[PathBuf], out: &Path, chart: Option<&Path>) -> Result<()> {
    let mut loaded = Vec::new();
    for path in reports {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        loaded.push(v);
    }
    std::fs::write(out, markdown(&loaded))?;
    if let Some(chart) = chart {
        draw_chart(&loaded, chart)?;
    }
    Ok(())
}

/// The case a report belongs to: scenario plus its shape (participants, publishers).
fn case(v: &Value) -> String {
    format!(
        "{}: {} participants, {} publishing",
        v["scenario"].as_str().unwrap_or("?"),
        v["participants"]["planned"],
        v["config"]["publishers"]
    )
}

fn num(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// One markdown table per case, a row per server, and the Janus/SFU CPU-per-packet ratio.
pub fn markdown(reports: &[Value]) -> String {
    let mut cases: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in reports {
        cases.entry(case(r)).or_default().push(r);
    }
    let mut out = String::new();
    for (name, rows) in cases {
        let _ = writeln!(out, "### {name}\n");
        let _ = writeln!(
            out,
            "| server | connected / planned | failed | join p50 / p99 ms | packets in/s | Mbit/s in | loss % | NACKs | PLIs | latency p50 / p99 / max ms | server CPU % | CPU us / forwarded packet | peak RSS MB | RSS / participant kB |"
        );
        let _ = writeln!(
            out,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &rows {
            let _ = writeln!(
                out,
                "| {} | {} / {} | {} | {} / {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {} | {} |",
                r["target"].as_str().unwrap_or("?"),
                r["participants"]["connected"],
                r["participants"]["planned"],
                r["participants"]["failed"],
                fmt(num(r, "/join_ms/p50_ms"), 0),
                fmt(num(r, "/join_ms/p99_ms"), 0),
                fmt(num(r, "/media/packets_in_per_s"), 0),
                fmt(num(r, "/media/bitrate_in_bps").map(|b| b / 1e6), 1),
                fmt(num(r, "/loss/percent"), 3),
                r["feedback"]["nacks_sent"],
                r["feedback"]["plis_sent"],
                fmt(num(r, "/latency_ms/p50_ms"), 2),
                fmt(num(r, "/latency_ms/p99_ms"), 2),
                fmt(num(r, "/latency_ms/max_ms"), 1),
                fmt(num(r, "/server/cpu_percent"), 1),
                fmt(num(r, "/server/cpu_us_per_forwarded_packet"), 2),
                fmt(num(r, "/server/peak_rss_bytes").map(|b| b / 1e6), 1),
                fmt(
                    num(r, "/server/rss_per_participant_bytes").map(|b| b / 1e3),
                    0
                ),
            );
        }
        let per_packet = |target: &str| {
            rows.iter()
                .find(|r| r["target"] == target)
                .and_then(|r| num(r, "/server/cpu_us_per_forwarded_packet"))
        };
        if let (Some(sfu), Some(janus)) = (per_packet("sfu"), per_packet("janus"))
            && sfu > 0.0
        {
            let _ = writeln!(
                out,
                "\nJanus uses {:.1}x the CPU per forwarded packet of this SFU.",
                janus / sfu
            );
        }
        out.push('\n');
    }
    out
}

/// Server CPU (percent of one core) against webinar subscribers, one line per server.
fn draw_chart(reports: &[Value], path: &Path) -> Result<()> {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in reports.iter().filter(|r| r["scenario"] == "webinar") {
        if let (Some(subs), Some(cpu)) =
            (num(r, "/config/subscribers"), num(r, "/server/cpu_percent"))
        {
            series
                .entry(r["target"].as_str().unwrap_or("?").to_owned())
                .or_default()
                .push((subs, cpu));
        }
    }
    for points in series.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let max_x = series.values().flatten().map(|p| p.0).fold(1.0, f64::max);
    let max_y = series.values().flatten().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Server CPU against subscribers (webinar, 1 simulcast publisher)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("subscribers")
        .y_desc("server CPU, % of one core")
        .draw()?;
    let colors = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x2c, 0xa0, 0x2c),
    ];
    for (i, (name, points)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(target: &str, subs: u64, cpu: f64, per_packet: f64) -> Value {
        json!({
            "scenario": "webinar", "target": target,
            "config": {"publishers": 1, "subscribers": subs},
            "participants": {"connected": subs + 1, "planned": subs + 1, "failed": 0},
            "server": {"cpu_percent": cpu, "cpu_us_per_forwarded_packet": per_packet},
        })
    }

    #[test]
    fn tables_pair_servers_by_case_and_give_the_ratio() {
        let md = markdown(&[report("sfu", 10, 5.0, 2.0), report("janus", 10, 30.0, 8.0)]);
        assert!(
            md.contains("### webinar: 11 participants, 1 publishing"),
            "{md}"
        );
        assert!(md.contains("| sfu | 11 / 11 |"), "{md}");
        assert!(md.contains("4.0x the CPU per forwarded packet"), "{md}");
    }

    #[test]
    fn the_chart_is_an_svg_with_both_servers() {
        let dir = std::env::temp_dir().join(format!("lt-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.svg");
        let reports = [
            report("sfu", 10, 5.0, 2.0),
            report("sfu", 20, 9.0, 2.0),
            report("janus", 10, 30.0, 8.0),
            report("janus", 20, 55.0, 8.0),
        ];
        draw_chart(&reports, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("janus") && svg.contains("sfu"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
