//! The `#SBATCH` lines of a batch script. `sbatch` parses them, not a
//! shell, so their values are validated (no whitespace, quotes, `#` or
//! control characters) instead of quoted, and the script is refused when
//! one is not safe. Also Slurm's time formats.

use super::{JobRequest, RenderError};

/// Slurm's `--time` format (`D-HH:MM:SS`), rounded up to whole seconds.
pub fn slurm_time(d: std::time::Duration) -> String {
    let mut secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs += 1;
    }
    let days = secs / 86_400;
    let h = (secs % 86_400) / 3600;
    let m = (secs % 3600) / 60;
    let s = secs % 60;
    if days > 0 {
        format!("{days}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// Time limit in whole minutes (what the REST API takes), rounded up.
pub fn slurm_minutes(d: std::time::Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

/// A value safe for an `#SBATCH` line.
fn directive_value(field: &'static str, v: &str) -> Result<String, RenderError> {
    let bad = v.is_empty()
        || v.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '\'' | '"' | '#' | '\\' | '`' | '$')
        });
    if bad {
        return Err(RenderError::UnsafeDirective {
            field,
            value: v.to_string(),
        });
    }
    Ok(v.to_string())
}

/// The `#SBATCH` directives (without the prefix) for a request.
pub fn directives(req: &JobRequest) -> Result<Vec<String>, RenderError> {
    let s = &req.slurm;
    let mut d = vec![format!(
        "--job-name={}",
        directive_value("name", &req.name)?
    )];
    let opt = |d: &mut Vec<String>,
               flag: &str,
               field: &'static str,
               v: &Option<String>|
     -> Result<(), RenderError> {
        if let Some(v) = v {
            d.push(format!("--{flag}={}", directive_value(field, v)?));
        }
        Ok(())
    };
    opt(&mut d, "partition", "partition", &s.partition)?;
    opt(&mut d, "account", "account", &s.account)?;
    opt(&mut d, "qos", "qos", &s.qos)?;
    opt(&mut d, "reservation", "reservation", &s.reservation)?;
    if let Some(n) = s.nodes {
        d.push(format!("--nodes={n}"));
    }
    if let Some(n) = s.ntasks {
        d.push(format!("--ntasks={n}"));
    }
    if let Some(n) = s.cpus_per_task {
        d.push(format!("--cpus-per-task={n}"));
    }
    opt(&mut d, "gpus", "gpus", &s.gpus)?;
    opt(&mut d, "gres", "gres", &s.gres)?;
    opt(&mut d, "mem", "mem", &s.mem)?;
    if let Some(t) = s.time {
        d.push(format!("--time={}", slurm_time(t.get())));
    }
    opt(&mut d, "constraint", "constraint", &s.constraint)?;
    if s.exclusive {
        d.push("--exclusive".to_string());
    }
    let out = req.stdout_path().display().to_string();
    let err = req.stderr_path().display().to_string();
    d.push(format!("--output={}", directive_value("output", &out)?));
    d.push(format!("--error={}", directive_value("error", &err)?));
    for extra in &s.extra_directives {
        let e = extra.trim();
        let e = e.strip_prefix("#SBATCH").map(str::trim).unwrap_or(e);
        if !e.starts_with('-') || e.chars().any(|c| c.is_control() || c == '\n') {
            return Err(RenderError::UnsafeDirective {
                field: "extraDirectives",
                value: extra.clone(),
            });
        }
        d.push(e.to_string());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        use std::time::Duration as D;
        assert_eq!(slurm_time(D::from_secs(90)), "00:01:30");
        assert_eq!(slurm_time(D::from_secs(2 * 3600)), "02:00:00");
        assert_eq!(slurm_time(D::from_secs(86_400 + 61)), "1-00:01:01");
        assert_eq!(slurm_time(D::from_millis(1500)), "00:00:02");
        assert_eq!(slurm_minutes(D::from_secs(61)), 2);
        assert_eq!(slurm_minutes(D::from_secs(0)), 1);
    }
}
