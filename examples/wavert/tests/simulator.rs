//! Runs the simulator binary and checks its headline numbers: the original
//! driver shows the forum thread's symptom and the byte shift, the
//! recommended configurations show no underrun, the seed reproduces a run,
//! and a configuration below its bound makes the command fail.

use std::process::Command;

fn simulator(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pcm-ring-wavert"))
        .args(args)
        .output()
        .expect("the simulator runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    (out.status.code().unwrap_or(-1), stdout)
}

/// The table rows of the scenario whose title starts with `prefix`.
fn rows<'a>(out: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    out.lines()
        .skip_while(|l| !l.starts_with(prefix))
        .skip(1)
        .skip_while(|l| !l.starts_with("| format"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

/// "873 of 1949 (44.8 %)" → 44.8
fn share(cell: &str) -> f64 {
    let open = cell.find('(').expect("a share");
    cell[open + 1..]
        .trim_end_matches(" %)")
        .parse()
        .expect("a number")
}

#[test]
fn headline_numbers_and_exit_status() {
    let (code, out) = simulator(&["--seed", "7", "--seconds", "12"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("seed 7 (rerun with --seed 7)"));

    // 1. The original driver: silence in a large share of the 10 ms periods,
    // gaps of tens of ms, and frames off the grid after its overruns.
    let original = rows(&out, "1. ");
    assert_eq!(original.len(), 4, "{out}");
    for row in &original {
        assert!(share(row[1]) > 30.0, "{row:?}");
        let underruns: u64 = row[2].parse().unwrap();
        assert!(underruns > 100, "{row:?}");
        let misaligned: u64 = row[7].parse().unwrap();
        assert!(misaligned > 0, "{row:?}");
    }
    let notes: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("- 48 kHz 16-bit stereo: "))
        .collect();
    let gap_ms: f64 = notes[0]
        .split("gaps of silence, mean ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("gap note");
    assert!(gap_ms >= 10.0, "{}", notes[0]);
    assert!(
        notes[0].contains("left the reader +1 byte(s) off the frame grid"),
        "{}",
        notes[0]
    );

    // 2. The same app on pcm-ring: still short of audio (the app's fault),
    // but never off the frame grid.
    for row in rows(&out, "2. ") {
        assert_eq!(row[7], "0", "{row:?}");
    }

    // 3–5. The recommended configurations: no underrun, no silence, every
    // format.
    for prefix in ["3. ", "4. ", "5. "] {
        let table = rows(&out, prefix);
        assert_eq!(table.len(), 4, "{prefix}\n{out}");
        for row in table {
            assert_eq!(
                (row[1].split(' ').next(), row[2], row[3], row[7]),
                (Some("0"), "0", "0.0", "0"),
                "{row:?}"
            );
        }
    }
    assert!(out.contains("summary: ok"), "{out}");

    // The smallest fill level for the top-up app is near its bound.
    let line = out
        .lines()
        .find(|l| l.starts_with("| top up to a fill level"))
        .expect("latency table");
    let measured: f64 = line
        .split('|')
        .nth(2)
        .unwrap()
        .trim()
        .trim_end_matches(" ms")
        .parse()
        .unwrap();
    assert!((15.0..=26.0).contains(&measured), "{line}");
}

#[test]
fn a_seed_reproduces_its_run() {
    let (_, a) = simulator(&["--seed", "12345", "--seconds", "12"]);
    let (_, b) = simulator(&["--seed", "12345", "--seconds", "12"]);
    assert_eq!(a, b);
}

#[test]
fn a_fill_level_below_the_bound_fails_the_command() {
    let (code, out) = simulator(&["--seed", "7", "--seconds", "12", "--top-up-ms", "8"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("summary: FAILED: 3. "), "{out}");
}

#[test]
fn plots_are_written() {
    let dir = std::env::temp_dir().join(format!("pcm-ring-wavert-plots-{}", std::process::id()));
    let (code, out) = simulator(&[
        "--seed",
        "3",
        "--seconds",
        "12",
        "--plot",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    for name in [
        "1-original-driver.svg",
        "3-top-up.svg",
        "5-virtual-cable.svg",
    ] {
        let svg = std::fs::read_to_string(dir.join(name)).expect("svg written");
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{name}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_arguments_are_refused() {
    assert_eq!(simulator(&["--seed", "x"]).0, 2);
    assert_eq!(simulator(&["--bogus"]).0, 2);
    assert_eq!(simulator(&["--top-up-ms", "99"]).0, 2);
}
