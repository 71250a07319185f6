//! The Dockerfile and the systemd unit, checked without a Docker engine (none runs on our machines,
//! so the image is not built in CI): the Dockerfile's rules are read off the file, and the unit is
//! checked by `systemd-analyze` itself when it is installed (it is on our machines).

use std::path::PathBuf;

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Dockerfile instructions with continuation lines joined and comments dropped.
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        if let Some((word, rest)) = current.trim().split_once(char::is_whitespace) {
            out.push((word.to_ascii_uppercase(), rest.trim().to_owned()));
        }
        current.clear();
    }
    out
}

#[test]
fn the_dockerfile_is_multi_stage_small_non_root_and_health_checked() {
    let dockerfile = repo_file("Dockerfile");
    let all = instructions(&dockerfile);
    let stages: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, (word, _))| word == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");
    for &i in &stages {
        let image = all[i].1.split_whitespace().next().unwrap();
        assert!(
            image.contains(':') && !image.ends_with(":latest"),
            "base images are pinned: {image}"
        );
    }
    let runtime = &all[*stages.last().unwrap()..];
    let base = runtime[0].1.to_ascii_lowercase();
    assert!(
        base.contains("slim") || base.contains("distroless") || base.contains("alpine"),
        "a small runtime base: {base}"
    );
    assert!(
        !runtime
            .iter()
            .any(|(w, rest)| w == "RUN" && (rest.contains("cargo") || rest.contains("npm"))),
        "no toolchain in the runtime stage"
    );
    let user = runtime
        .iter()
        .rev()
        .find(|(w, _)| w == "USER")
        .map(|(_, u)| u.clone())
        .expect("the runtime stage sets USER");
    let name = user.split(':').next().unwrap();
    assert!(name != "root" && name != "0", "non-root: {user}");
    let user_at = runtime.iter().rposition(|(w, _)| w == "USER").unwrap();
    let entry_at = runtime
        .iter()
        .rposition(|(w, _)| w == "ENTRYPOINT" || w == "CMD")
        .expect("an entrypoint");
    assert!(user_at < entry_at, "USER comes before the entrypoint");
    let entry = &runtime[entry_at].1;
    assert!(
        entry.starts_with('['),
        "exec form (signals reach the server): {entry}"
    );
    let health = runtime
        .iter()
        .find(|(w, _)| w == "HEALTHCHECK")
        .map(|(_, h)| h.clone())
        .expect("a HEALTHCHECK");
    assert!(health.contains("/readyz"), "{health}");
    assert!(
        runtime
            .iter()
            .any(|(w, r)| w == "COPY" && r.starts_with("--from=")),
        "the runtime copies the build's output"
    );
    for (word, rest) in &all {
        assert!(
            !(word == "ADD" && rest.contains("://")),
            "no remote ADD: {rest}"
        );
        if word == "RUN" && rest.contains("apt-get install") {
            assert!(rest.contains("--no-install-recommends"), "{rest}");
            assert!(rest.contains("rm -rf /var/lib/apt/lists"), "{rest}");
        }
    }
    assert!(
        all.iter()
            .any(|(w, r)| w == "RUN" && r.contains("scripts/build-site.sh")),
        "the image is built by the same script as a native start"
    );
    let ignore = repo_file(".dockerignore");
    for entry in ["target/", "node_modules/", "data/", ".env"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore: {entry}"
        );
    }
}

#[test]
fn the_systemd_unit_is_hardened_and_valid() {
    let unit = repo_file("deploy/rarity-leads.service");
    let mut section = String::new();
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        keys.push((section.clone(), key.to_owned(), value.to_owned()));
    }
    let get = |s: &str, k: &str| {
        keys.iter()
            .filter(|(sec, key, _)| sec == s && key == k)
            .map(|(_, _, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("StateDirectoryMode", "0700"),
        ("UMask", "0077"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(get("Service", key), vec![want], "[Service] {key}");
    }
    let user = get("Service", "User");
    assert!(
        user.len() == 1 && user[0] != "root",
        "runs as its own user: {user:?}"
    );
    assert!(get("Service", "SystemCallFilter").contains(&"@system-service"));
    assert!(get("Service", "RestrictAddressFamilies")[0].contains("AF_UNIX"));
    assert!(!get("Service", "ExecStart").is_empty());
    assert_eq!(get("Install", "WantedBy"), vec!["multi-user.target"]);

    // systemd's own reading of the unit, where systemd-analyze is installed.
    let Ok(output) = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager", "--threshold=25"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/rarity-leads.service"))
        .output()
    else {
        eprintln!("systemd-analyze is not installed: only the file's own checks ran");
        return;
    };
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let level = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for rarity-leads.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(
        level <= 2.0,
        "exposure {level} (systemd calls ≤ 2.0 \"OK\")"
    );
}
