//! The self-contained HTML report: every table, plus SVG charts drawn with plotters (latency per
//! board and framework, memory breakdown as stacked bars, energy, latency against peak RAM).
//! No scripts, no external files: one file that opens anywhere.
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::compare::core_family;
use crate::grid::{CellKind, Table};
use crate::layouts::peak_ram;
use crate::published::PublishedRow;
use crate::record::{Metric, Source};
use crate::summary::Analysis;

const W: u32 = 900;
const H: u32 = 380;

fn source_color(s: Source) -> RGBColor {
    match s {
        Source::Measured => RGBColor(31, 119, 180),
        Source::Emulated => RGBColor(44, 160, 44),
        Source::Modeled => RGBColor(255, 127, 14),
        Source::Published => RGBColor(127, 127, 127),
    }
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// A bar (or a stack of bars) per category.
struct Bars {
    title: String,
    y_label: String,
    categories: Vec<String>,
    /// Per category: stacked segments (value, colour, legend name).
    stacks: Vec<Vec<(f64, RGBColor, String)>>,
    /// Text over each bar (the figure and its source).
    labels: Vec<String>,
}

fn draw_bars(b: &Bars) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = b.categories.len().max(1) as u32;
        let top = b.stacks.iter().map(|s| s.iter().map(|x| x.0).sum::<f64>()).fold(0.0, f64::max);
        let top = if top > 0.0 { top * 1.15 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .caption(&b.title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(70)
            .build_cartesian_2d((0u32..(n - 1).max(1)).into_segmented(), 0f64..top)
            .map_err(err)?;
        let cats = b.categories.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(b.y_label.as_str())
            .x_labels(n as usize)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => cats.get(*i as usize).cloned().unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(err)?;
        let mut legend: Vec<(String, RGBColor)> = Vec::new();
        for (i, stack) in b.stacks.iter().enumerate() {
            let mut base = 0.0;
            for (v, color, name) in stack {
                let x0 = SegmentValue::Exact(i as u32);
                let x1 = SegmentValue::Exact(i as u32 + 1);
                let mut rect = Rectangle::new([(x0, base), (x1, base + v)], color.filled());
                rect.set_margin(0, 0, 6, 6);
                chart.draw_series(std::iter::once(rect)).map_err(err)?;
                base += v;
                if !legend.iter().any(|(n, _)| n == name) {
                    legend.push((name.clone(), *color));
                }
            }
            if let Some(label) = b.labels.get(i) {
                let style = TextStyle::from(("sans-serif", 11)).color(&BLACK);
                chart
                    .draw_series(std::iter::once(Text::new(label.clone(), (SegmentValue::CenterOf(i as u32), base + top * 0.02), style)))
                    .map_err(err)?;
            }
        }
        // Legend: drawn by hand at the top right (one entry per colour).
        for (k, (name, color)) in legend.iter().enumerate() {
            let y = 30 + k as i32 * 16;
            root.draw(&Rectangle::new([(W as i32 - 200, y), (W as i32 - 188, y + 10)], color.filled())).map_err(err)?;
            root.draw(&Text::new(name.clone(), (W as i32 - 182, y), ("sans-serif", 11))).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn latency_charts(a: &Analysis) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for w in &a.workloads {
        let mut b = Bars {
            title: format!("Latency per inference, {w}"),
            y_label: "ms".into(),
            categories: vec![],
            stacks: vec![],
            labels: vec![],
        };
        for s in a.systems_for(w) {
            if let Some(st) = a.best(s, w, Metric::LatencyMs) {
                b.categories.push(format!("{} / {}", s.board, s.framework));
                b.stacks.push(vec![(st.median, source_color(st.source), st.source.to_string())]);
                b.labels.push(format!("{:.1} ms ({})", st.median, st.source));
            }
        }
        if !b.categories.is_empty() {
            out.push(draw_bars(&b)?);
        }
    }
    Ok(out)
}

fn memory_chart(a: &Analysis) -> Result<Option<String>, String> {
    let mut b = Bars {
        title: "RAM breakdown: static (other) + arena + stack".into(),
        y_label: "KB".into(),
        categories: vec![],
        stacks: vec![],
        labels: vec![],
    };
    for w in &a.workloads {
        for s in a.systems_for(w) {
            let (Some(st), Some(stack)) = (a.best(s, w, Metric::StaticRamBytes), a.best(s, w, Metric::StackBytes)) else {
                continue;
            };
            let arena = a.best(s, w, Metric::ArenaBytes).map(|x| x.median).unwrap_or(0.0);
            let other = (st.median - arena).max(0.0);
            b.categories.push(format!("{w} @ {}", s.board));
            b.stacks.push(vec![
                (other / 1024.0, PALETTE[0], format!("static, not arena ({})", st.source)),
                (arena / 1024.0, PALETTE[1], "arena, peak used".into()),
                (stack.median / 1024.0, PALETTE[2], format!("stack peak ({})", stack.source)),
            ]);
            b.labels.push(format!("{:.1} KB", (st.median + stack.median) / 1024.0));
        }
    }
    if b.categories.is_empty() {
        return Ok(None);
    }
    draw_bars(&b).map(Some)
}

/// Energy: ours where we have it; otherwise published MLPerf Tiny figures for the same models on
/// the same cores, clearly titled as published.
fn energy_chart(a: &Analysis, published: &[PublishedRow]) -> Result<(String, Option<String>), String> {
    let mut b = Bars { title: "Energy per inference".into(), y_label: "uJ".into(), categories: vec![], stacks: vec![], labels: vec![] };
    for w in &a.workloads {
        for s in a.systems_for(w) {
            if let Some(st) = a.best(s, w, Metric::EnergyUj) {
                b.categories.push(format!("{w} @ {}", s.board));
                b.stacks.push(vec![(st.median, source_color(st.source), st.source.to_string())]);
                b.labels.push(format!("{:.0} uJ ({})", st.median, st.source));
            }
        }
    }
    if !b.categories.is_empty() {
        return Ok(("Energy per inference from these results.".into(), Some(draw_bars(&b)?)));
    }
    let cores: Vec<String> = a.systems.iter().filter_map(|s| core_family(&s.cpu)).collect();
    for w in &a.workloads {
        let mut rows: Vec<&PublishedRow> = published
            .iter()
            .filter(|r| r.metric == "energy_uj" && r.model == *w && r.value.is_some() && !r.notes.contains("open division"))
            .filter(|r| core_family(&r.cpu).is_some_and(|c| cores.contains(&c)))
            .collect();
        rows.sort_by(|x, y| x.value.partial_cmp(&y.value).unwrap_or(std::cmp::Ordering::Equal));
        rows.dedup_by(|x, y| x.value == y.value && x.board == y.board);
        for r in rows.into_iter().take(3) {
            let v = r.value.unwrap_or(0.0);
            b.categories.push(format!("{w} {}", r.board.trim_start_matches("NUCLEO").trim_start_matches(['-', '_']).chars().take(12).collect::<String>()));
            b.stacks.push(vec![(v, source_color(Source::Published), "published (MLPerf Tiny)".into())]);
            b.labels.push(format!("{v:.0} uJ"));
        }
    }
    let note = "These results have no energy figures (emulated boards, no power model), so every cell says n/a. \
                For scale, the chart shows published MLPerf Tiny energy for the same models on the same Arm cores \
                (silicon, closed division; grey = published)."
        .to_string();
    if b.categories.is_empty() {
        return Ok((note + " None were found.", None));
    }
    b.title = "Published energy per inference (MLPerf Tiny), for scale".into();
    Ok((note, Some(draw_bars(&b)?)))
}

fn scatter_chart(a: &Analysis) -> Result<Option<String>, String> {
    let mut pts: Vec<(f64, f64, String, Source, usize)> = Vec::new();
    for (k, w) in a.workloads.iter().enumerate() {
        for s in a.systems_for(w) {
            if let (Some(l), Some((ram, _, _))) = (a.best(s, w, Metric::LatencyMs), peak_ram(a, s, w)) {
                pts.push((ram / 1024.0, l.median, format!("{w} @ {}", s.board), l.source, k));
            }
        }
    }
    if pts.is_empty() {
        return Ok(None);
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max) * 1.25 + 1.0;
        let ymin = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).max(1e-6) / 2.0;
        let ymax = pts.iter().map(|p| p.1).fold(0.0, f64::max) * 2.0;
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency against peak RAM (static + stack)", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..xmax, (ymin..ymax).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("peak RAM (KB)")
            .y_desc("latency (ms, log scale)")
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(err)?;
        for (x, y, label, source, k) in &pts {
            let color = PALETTE[*k % PALETTE.len()];
            chart.draw_series(std::iter::once(Circle::new((*x, *y), 5, color.filled()))).map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(format!("{label} ({source})"), (*x, *y), ("sans-serif", 10))))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn table_html(t: &Table) -> String {
    let mut h = format!("<section class=\"table\" id=\"{}\">\n<h3>{}</h3>\n<table>\n<thead><tr>", esc(&t.id), esc(&t.title));
    for c in &t.columns {
        h.push_str(&format!("<th>{}</th>", esc(c).replace('\n', "<br>")));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        h.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let class = match c.kind {
                CellKind::Figure { source, .. } => format!("fig {source}"),
                CellKind::Label => "label".into(),
                CellKind::Text if i == 0 => "head".into(),
                CellKind::Text => "text".into(),
            };
            h.push_str(&format!("<td class=\"{class}\">{}</td>", esc(&c.text)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    if !t.notes.is_empty() {
        h.push_str("<ul class=\"notes\">");
        for n in &t.notes {
            h.push_str(&format!("<li>{}</li>", esc(n)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
    h
}

const CSS: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1400px}\
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}\
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}th,td{border:1px solid #bbb;padding:3px 7px;vertical-align:top}\
th{background:#f0f0f0}td.fig,td.label{text-align:right;white-space:nowrap}td.label{color:#a33}\
td.modeled{background:#fff6ec}td.emulated{background:#eef8ee}td.published{background:#f3f3f3}\
ul.notes{font-size:.8em;color:#555}.charts svg{margin:.5em;border:1px solid #ddd}p.meta{color:#555}";

/// The whole HTML document.
pub fn html_report(a: &Analysis, tables: &[Table], published: &[PublishedRow], title: &str) -> Result<String, String> {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    );
    h.push_str(&format!(
        "<p class=\"meta\">Runs: {}. Every figure carries its source: measured, emulated, modeled or published; cells without a figure say why (n/a, OOM, failed, not run).</p>\n",
        esc(&a.runs.join(", "))
    ));
    h.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");
    for svg in latency_charts(a)? {
        h.push_str(&svg);
        h.push('\n');
    }
    if let Some(svg) = memory_chart(a)? {
        h.push_str(&svg);
        h.push('\n');
    }
    let (energy_note, energy_svg) = energy_chart(a, published)?;
    if let Some(svg) = energy_svg {
        h.push_str(&svg);
        h.push('\n');
    }
    if let Some(svg) = scatter_chart(a)? {
        h.push_str(&svg);
        h.push('\n');
    }
    h.push_str(&format!("</div>\n<p class=\"meta\">{}</p>\n", esc(&energy_note)));
    h.push_str("<h2>Tables</h2>\n");
    for t in tables {
        h.push_str(&table_html(t));
    }
    h.push_str("<h2>How figures were derived</h2>\n<ul class=\"notes\">");
    for n in &a.notes {
        h.push_str(&format!("<li>{}</li>", esc(n)));
    }
    h.push_str("</ul>\n</body>\n</html>\n");
    Ok(h)
}
