//! The WaveRT virtual-microphone simulator: the forum thread's failure and
//! its fix, measured on a virtual clock.
//!
//! ```text
//! cargo run --release -p pcm-ring-wavert -- [--seed N] [--seconds S] [--plot DIR]
//! ```
//!
//! Prints one table per scenario (every format), then the smallest target
//! latency with zero underruns for each pacing next to its theoretical
//! bound, then a summary line. Exits with status 1 if a recommended
//! configuration glitched (an underrun after the stream started, or a frame
//! off the grid).

mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use sim::{
    simulate, FormatSpec, Pacing, RingKind, Run, Stats, DMA_MS, FORMATS, MS, NOTIFICATIONS,
    RING_BUFFERS, SYSTEM_TICK,
};

/// Recommended targets (fill level the app keeps, or the cable's start
/// threshold), in microseconds: each pacing's bound plus a margin for
/// jitter.
const TOP_UP_TARGET_US: u64 = 30_000;
const EVENT_TARGET_US: u64 = 15_000;
const CABLE_TARGET_US: u64 = 10_000;

struct Scenario {
    name: &'static str,
    file: &'static str,
    ring: RingKind,
    pacing: Pacing,
    recommended: bool,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario {
        name: "1. The original driver: Sleep(10) app, 40 ms byte ring gated until half full, overrun moves the reader",
        file: "1-original-driver.svg",
        ring: RingKind::Original,
        pacing: Pacing::Sleep10,
        recommended: false,
    },
    Scenario {
        name: "2. The same Sleep(10) app on pcm-ring (recommended ring configuration)",
        file: "2-sleep-app-on-pcm-ring.svg",
        ring: RingKind::PcmRing,
        pacing: Pacing::Sleep10,
        recommended: false,
    },
    Scenario {
        name: "3. pcm-ring, the app tops up to a fill level on the 15.625 ms clock",
        file: "3-top-up.svg",
        ring: RingKind::PcmRing,
        pacing: Pacing::TopUp {
            target_us: TOP_UP_TARGET_US,
        },
        recommended: true,
    },
    Scenario {
        name: "4. pcm-ring, the app waits on the low-watermark event (15 ms) and tops up",
        file: "4-low-watermark-event.svg",
        ring: RingKind::PcmRing,
        pacing: Pacing::Event {
            target_us: EVENT_TARGET_US,
        },
        recommended: true,
    },
    Scenario {
        name: "5. Virtual cable: render endpoint -> ring (starts at 10 ms) -> capture endpoint",
        file: "5-virtual-cable.svg",
        ring: RingKind::PcmRing,
        pacing: Pacing::Cable {
            target_us: CABLE_TARGET_US,
        },
        recommended: true,
    },
];

struct Args {
    seed: u64,
    seconds: u64,
    plot: Option<PathBuf>,
    /// The fill level scenario 3's app keeps, microseconds.
    top_up_us: u64,
}

fn usage() -> String {
    "usage: pcm-ring-wavert [--seed N] [--seconds S (default 20)] [--plot DIR] [--top-up-ms MS (scenario 3's fill level, default 30)]".to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000)
            .unwrap_or(1)
            .max(1),
        seconds: 20,
        plot: None,
        top_up_us: TOP_UP_TARGET_US,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "--seed" => {
                args.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?;
            }
            "--seconds" => {
                args.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?;
                if !(12..=3600).contains(&args.seconds) {
                    return Err("--seconds must be 12 to 3600".into());
                }
            }
            "--plot" => args.plot = Some(PathBuf::from(value("--plot")?)),
            "--top-up-ms" => {
                let ms: u64 = value("--top-up-ms")?
                    .parse()
                    .map_err(|e| format!("--top-up-ms: {e}"))?;
                if !(1..=40).contains(&ms) {
                    return Err("--top-up-ms must be 1 to 40 (the ring holds 40 ms)".into());
                }
                args.top_up_us = ms * 1000;
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(args)
}

fn run_of(format: FormatSpec, s: &Scenario, args: &Args, trace: bool) -> Run {
    let cable = matches!(s.pacing, Pacing::Cable { .. });
    let pacing = match s.pacing {
        Pacing::TopUp { .. } => Pacing::TopUp {
            target_us: args.top_up_us,
        },
        other => other,
    };
    Run {
        format,
        ring: s.ring,
        pacing,
        seed: args.seed,
        duration: args.seconds * 1000 * MS,
        run_at: 200 * MS,
        // The recording client pauses for 300 ms half-way (not the cable:
        // both its ends run).
        pause: (!cable).then_some((args.seconds * 500 * MS, 300 * MS)),
        trace,
    }
}

fn glitched(stats: &Stats) -> bool {
    stats.underruns > 0 || stats.misaligned_frames > 0
}

fn print_table(s: &Scenario, rows: &[(FormatSpec, Stats)], pacing: Pacing) {
    match pacing {
        Pacing::TopUp { target_us } => println!("{} ({} ms)", s.name, target_us / 1000),
        _ => println!("{}", s.name),
    }
    println!();
    println!("| format | periods with silence | underruns | silence ms | dropped ms | overwritten ms | latency mean / max ms | misaligned frames |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (format, st) in rows {
        println!(
            "| {} | {} of {} ({:.1} %) | {} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} | {} |",
            format.name,
            st.silent_periods,
            st.periods,
            st.silent_share(),
            st.underruns,
            st.ms(st.silence_frames),
            st.bytes_ms(st.dropped_bytes),
            st.bytes_ms(st.overwritten_bytes),
            st.mean_latency_ms(),
            st.max_latency_ms(),
            st.misaligned_frames,
        );
    }
    for (format, st) in rows {
        let mut notes = Vec::new();
        if st.gaps > 0 {
            notes.push(format!(
                "{} gaps of silence, mean {:.1} ms, longest {:.1} ms",
                st.gaps,
                st.ms(st.gap_frames) / st.gaps as f64,
                st.ms(st.gap_max)
            ));
        }
        if s.ring == RingKind::Original {
            notes.push(format!(
                "{} overruns, {} of which left the reader +{} byte(s) off the frame grid",
                st.overruns, st.misaligning_overruns, st.byte_shift
            ));
            if st.wrong_silence_frames > 0 {
                notes.push(format!(
                    "{} frames of zero fill, which is not silence in unsigned 8-bit",
                    st.wrong_silence_frames
                ));
            }
        }
        if st.consumed_bytes > 0 && !matches!(s.pacing, Pacing::Cable { .. }) {
            notes.push(format!(
                "the app delivered {:.1} % of the audio the stream consumed",
                100.0 * st.app_bytes as f64 / st.consumed_bytes as f64
            ));
        }
        if !notes.is_empty() {
            println!("- {}: {}", format.name, notes.join("; "));
        }
    }
    println!();
}

/// The smallest target (1 ms steps up to the ring's 40 ms) with zero
/// underruns after the start, on 48 kHz stereo.
fn smallest_target(pacing: Pacing, args: &Args) -> Option<u64> {
    let s = Scenario {
        name: "",
        file: "",
        ring: RingKind::PcmRing,
        pacing,
        recommended: true,
    };
    (1..=(RING_BUFFERS as u64 * DMA_MS)).find(|&ms| {
        let mut run = run_of(FORMATS[0], &s, args, false);
        run.pacing = pacing.with_target(ms * 1000);
        !glitched(&simulate(&run))
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "WaveRT virtual microphone, simulated: app -> IOCTL -> ring -> timer DPC -> DMA buffer -> audio engine"
    );
    println!(
        "seed {} (rerun with --seed {}), {} s per run; DMA buffer {} ms with {} notifications, 1 ms timer, ring {} ms; the client starts the stream at 200 ms and pauses it for 300 ms half-way",
        args.seed,
        args.seed,
        args.seconds,
        DMA_MS,
        NOTIFICATIONS,
        RING_BUFFERS as u64 * DMA_MS
    );
    println!();
    if let Some(dir) = &args.plot {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("--plot {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    }

    let mut failures = Vec::new();
    let mut headline = Vec::new();
    for s in &SCENARIOS {
        let mut rows = Vec::new();
        for (i, format) in FORMATS.iter().enumerate() {
            let trace = args.plot.is_some() && i == 0;
            let stats = simulate(&run_of(*format, s, &args, trace));
            if s.recommended && glitched(&stats) {
                failures.push(format!("{} / {}", s.name, format.name));
            }
            if trace {
                if let Some(dir) = &args.plot {
                    let path = dir.join(s.file);
                    // The first second: the start, and the steady state.
                    let window = (0.0, 1000.0);
                    let title = format!("{} ({})", s.name, format.name);
                    match sim::plot::write_svg(&path, &title, &stats.trace, window) {
                        Ok(()) => println!("wrote {}", path.display()),
                        Err(e) => {
                            eprintln!("plot: {e}");
                            return ExitCode::from(2);
                        }
                    }
                }
            }
            rows.push((*format, stats));
        }
        let first = &rows[0].1;
        headline.push(format!(
            "{}: {:.1} % of periods with silence, {} underruns",
            &s.name[..2].trim_end_matches('.'),
            first.silent_share(),
            first.underruns
        ));
        print_table(s, &rows, run_of(FORMATS[0], s, &args, false).pacing);
    }

    println!("Smallest target latency with zero underruns (48 kHz 16-bit stereo, this seed), next to the bound");
    println!();
    println!("| pacing | smallest target, measured | bound: timer granularity + DMA period | used above |");
    println!("|---|---:|---:|---:|");
    let packet_ms = DMA_MS as f64 / f64::from(NOTIFICATIONS);
    let tick_ms = SYSTEM_TICK as f64 / MS as f64;
    let rows: [(&str, Pacing, f64, Option<u64>); 4] = [
        (
            "Sleep(10), one 10 ms write per wake",
            Pacing::Sleep10,
            tick_ms,
            None,
        ),
        (
            "top up to a fill level on the 15.625 ms clock",
            Pacing::TopUp { target_us: 0 },
            tick_ms,
            Some(args.top_up_us),
        ),
        (
            "wait on the low-watermark event, then top up",
            Pacing::Event { target_us: 0 },
            1.0,
            Some(EVENT_TARGET_US),
        ),
        (
            "virtual cable (start threshold)",
            Pacing::Cable { target_us: 0 },
            1.0,
            Some(CABLE_TARGET_US),
        ),
    ];
    for (name, pacing, granularity, used) in rows {
        let measured = if pacing == Pacing::Sleep10 {
            let s = &SCENARIOS[1];
            let st = simulate(&run_of(FORMATS[0], s, &args, false));
            if glitched(&st) {
                format!(
                    "none: the app delivers {:.0} % of the rate",
                    100.0 * st.app_bytes as f64 / st.consumed_bytes.max(1) as f64
                )
            } else {
                "0 ms".into()
            }
        } else {
            match smallest_target(pacing, &args) {
                Some(ms) => format!("{ms} ms"),
                None => "none up to 40 ms".into(),
            }
        };
        println!(
            "| {name} | {measured} | {:.3} + {:.0} = {:.3} ms | {} |",
            granularity,
            packet_ms,
            granularity + packet_ms,
            used.map_or("-".to_string(), |us| format!("{} ms", us / 1000))
        );
    }
    println!();
    println!("summary: seed {}; {}", args.seed, headline.join("; "));
    if failures.is_empty() {
        println!("summary: ok: every recommended configuration ran without an underrun or a misaligned frame");
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            println!("summary: FAILED: {f} glitched");
        }
        ExitCode::from(1)
    }
}
