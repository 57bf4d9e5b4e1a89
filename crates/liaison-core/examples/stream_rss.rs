//! Peak memory of STIX validation, streamed or in memory, on a generated
//! bundle of N indicators:
//!
//! ```sh
//! cargo run --release -p liaison-core --example stream_rss -- 150000 stream
//! cargo run --release -p liaison-core --example stream_rss -- 150000 memory
//! ```
//!
//! Run each mode in its own process: the figure is the process's peak RSS
//! (`VmHWM` in `/proc/self/status`, Linux).

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;

fn peak_rss_kib() -> Result<u64, Box<dyn Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmHWM line")?
        .parse()?)
}

/// Write a bundle of `n` distinct TLP:GREEN indicators to `path`.
fn generate(path: &PathBuf, n: usize) -> Result<(), Box<dyn Error>> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    write!(
        f,
        "{{\"type\":\"bundle\",\"id\":\"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\",\"objects\":["
    )?;
    for i in 0..n {
        if i > 0 {
            write!(f, ",")?;
        }
        write!(
            f,
            "{{\"type\":\"indicator\",\"spec_version\":\"2.1\",\
             \"id\":\"indicator--00000000-0000-4000-8000-{:012x}\",\
             \"created\":\"2026-12-01T00:00:00.000Z\",\"modified\":\"2026-12-01T00:00:00.000Z\",\
             \"name\":\"C2 {i}\",\"pattern\":\"[ipv4-addr:value = '198.51.{}.{}']\",\
             \"pattern_type\":\"stix\",\"valid_from\":\"2026-12-01T00:00:00Z\",\
             \"object_marking_refs\":[\"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da\"]}}",
            i + 1,
            (i / 250) % 250,
            i % 250
        )?;
    }
    write!(f, "]}}")?;
    f.flush()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().unwrap_or_else(|| "150000".into()).parse()?;
    let mode = args.next().unwrap_or_else(|| "stream".into());
    let path = std::env::temp_dir().join(format!("liaison-stream-rss-{n}.json"));
    if !path.exists() {
        generate(&path, n)?;
    }
    let size = std::fs::metadata(&path)?.len();
    let before = peak_rss_kib()?;
    let started = std::time::Instant::now();
    let info = match mode.as_str() {
        "stream" => liaison_core::content::validate_stix_reader(std::fs::File::open(&path)?)?,
        "memory" => {
            let bytes = std::fs::read(&path)?;
            liaison_core::content::validate(liaison_core::Kind::Stix, &bytes)?
        }
        other => return Err(format!("mode `{other}`: expected stream or memory").into()),
    };
    println!(
        "{mode}: {} objects, {:.1} MB, {:.2} s, peak RSS {} MiB (at start {} MiB)",
        info.objects,
        size as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        peak_rss_kib()? / 1024,
        before / 1024
    );
    Ok(())
}
