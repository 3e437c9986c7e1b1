//! The console's settings file in the app's config directory. It holds refresh tokens, so it is
//! written readable by its owner only, and replaced atomically so a crash never leaves half a file.

use std::io::Write;
use std::path::Path;

use dhis2gw_wire::console::Settings;

pub const FILE_NAME: &str = "settings.json";

/// The settings saved last; the defaults when there are none or the file is unreadable.
pub fn load(path: &Path) -> Settings {
    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// Offers `gateway` (from `DHIS2GW_GATEWAY`, set by `packaging/dev.sh run`) on the sign-in screen
/// when no gateway has been used yet.
pub fn with_default_gateway(mut settings: Settings, gateway: Option<String>) -> Settings {
    if let (true, Some(gateway)) = (settings.gateways.is_empty(), gateway.filter(|g| !g.trim().is_empty())) {
        settings.gateways = vec![gateway];
    }
    settings
}

pub fn save(path: &Path, settings: &Settings) -> Result<(), String> {
    let dir = path.parent().ok_or("the settings path has no folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let temp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    let json = serde_json::to_vec_pretty(settings).map_err(|e| e.to_string())?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    std::fs::rename(&temp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_privately_and_bad_files_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(FILE_NAME);
        assert_eq!(load(&path), Settings::default());
        let settings = Settings {
            gateways: vec!["https://gw.example.org".into()],
            refresh_tokens: [("https://gw.example.org".into(), "r1".into())].into(),
            ..Default::default()
        };
        save(&path, &settings).unwrap();
        assert_eq!(load(&path), settings);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(load(&path), Settings::default());
    }

    #[test]
    fn a_default_gateway_is_offered_only_before_any_was_used() {
        let offered = with_default_gateway(Settings::default(), Some("http://localhost:9090".into()));
        assert_eq!(offered.gateways, ["http://localhost:9090"]);
        let used = Settings { gateways: vec!["https://gw.example.org".into()], ..Default::default() };
        assert_eq!(with_default_gateway(used.clone(), Some("http://localhost:9090".into())), used);
        assert_eq!(with_default_gateway(Settings::default(), None), Settings::default());
    }
}
