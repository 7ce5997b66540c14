//! Build script: records which commit of aifbench's own source this binary
//! was built from (not the directory a run starts in), for `environment.json`.
//!
//! Sets `AIFBENCH_BUILD_COMMIT` (the full `git rev-parse HEAD` of the source
//! tree, or "unknown" outside a git checkout, e.g. a crates.io tarball) and
//! `AIFBENCH_BUILD_DIRTY` ("true" when tracked files differed from that
//! commit at build time, "false", or "unknown"). A packager without git can
//! set `AIFBENCH_BUILD_COMMIT` in the build environment instead.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=AIFBENCH_BUILD_COMMIT");
    // Any edit of the source can change "dirty"; a commit changes HEAD.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    if let Ok(given) = std::env::var("AIFBENCH_BUILD_COMMIT")
        && !given.trim().is_empty()
    {
        println!("cargo:rustc-env=AIFBENCH_BUILD_COMMIT={}", given.trim());
        println!("cargo:rustc-env=AIFBENCH_BUILD_DIRTY=unknown");
        return;
    }
    // Only a checkout whose top level is this crate: a tarball unpacked
    // inside some other repository must not take that repository's HEAD.
    let top = git(&root, &["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let ours = top.as_deref().and_then(|t| t.canonicalize().ok()) == root.canonicalize().ok();
    let commit = if ours {
        git(&root, &["rev-parse", "HEAD"])
    } else {
        None
    };
    let Some(commit) = commit else {
        println!("cargo:rustc-env=AIFBENCH_BUILD_COMMIT=unknown");
        println!("cargo:rustc-env=AIFBENCH_BUILD_DIRTY=unknown");
        return;
    };
    // HEAD, the ref it points to and packed refs: a commit or a checkout
    // moves one of them (a worktree's HEAD lives in its own git dir).
    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        println!("cargo:rerun-if-changed={}", git_dir.join("index").display());
        let common = git(&root, &["rev-parse", "--git-common-dir"])
            .map(|c| root.join(c))
            .unwrap_or_else(|| git_dir.clone());
        println!(
            "cargo:rerun-if-changed={}",
            common.join("packed-refs").display()
        );
        if let Some(head_ref) = git(&root, &["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", common.join(head_ref).display());
        }
    }
    let dirty = match git(&root, &["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if s.is_empty() => "false",
        Some(_) => "true",
        None => "unknown",
    };
    println!("cargo:rustc-env=AIFBENCH_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=AIFBENCH_BUILD_DIRTY={dirty}");
}
