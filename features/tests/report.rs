//! The JUnit XML report for CI, beside the console output.

use std::fs::File;
use std::path::PathBuf;

/// Creates `target/cucumber/<name>` at the workspace root, for CI to collect.
pub fn junit_file(name: &str) -> Result<File, String> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/cucumber");
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("cannot create {}: {error}", directory.display()))?;
    let path = directory.join(name);
    File::create(&path).map_err(|error| format!("cannot create {}: {error}", path.display()))
}
