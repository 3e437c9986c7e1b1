//! The `dhis2gw` command: runs the gateway, or one of its administration subcommands.
//! Every subcommand reads the configuration the same way (file, then environment).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dhis2gw::access::audit::Actor;
use dhis2gw::access::users;
use dhis2gw::infra::config::{self, Config, Loaded};
use dhis2gw::infra::error::AppError;
use dhis2gw::infra::{db, memory, telemetry};
use dhis2gw::retention::{self, archive};
use dhis2gw::startup::{self, Application};
use dhis2gw::upgrade;
use dhis2gw_wire::{CreateUser, Role, UpdateUser};

#[derive(Parser)]
#[command(name = "dhis2gw", version, about = "DHIS2 integration gateway")]
struct Cli {
    /// Configuration file (YAML). Without this option /etc/dhis2gw/dhis2gw.yml is read if it
    /// exists; environment variables override the file either way.
    #[arg(long = "config", visible_alias = "config-file", value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and the delivery workers (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets masked) and where each value came from.
    Config,
    /// Bring over what the original dhis2gw (1.x) has in this database: users, partner
    /// tokens, mappings and the submission log (also done on every start). Its tables are
    /// left as they were until --finalize.
    MigrateFromV1 {
        /// Report what would come over; change nothing.
        #[arg(long, conflicts_with = "finalize")]
        dry_run: bool,
        /// Bring over anything new, then drop the original's tables: no way back to the old
        /// package after this.
        #[arg(long)]
        finalize: bool,
    },
    /// Set a user's password (read like create-user's) and enable the user, e.g. the
    /// original's `admin`, adopted disabled while its password was the default.
    SetPassword {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (first line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Archives of old submissions (`retention.archive_directory`): list them, show one,
    /// restore one into the log, or archive what is due now.
    Archive {
        #[command(subcommand)]
        action: ArchiveAction,
    },
    /// Create a user, e.g. the first admin.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: Role,
        /// Read the password from standard input (first line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "")]
        firstname: String,
        #[arg(long, default_value = "")]
        lastname: String,
    },
}

#[derive(Subcommand)]
enum ArchiveAction {
    /// Every archive with what it holds, each checked against its manifest.
    List,
    /// One archive's manifest and a line per submission in it.
    Show {
        /// A file in the archive directory, or a path.
        file: String,
    },
    /// Check an archive and say what restoring it would do; with --into-log, do it: the
    /// submissions are in the log again, readable and requeueable.
    Restore {
        file: String,
        #[arg(long)]
        into_log: bool,
    },
    /// Archive and delete what the retention settings say is old enough, now.
    Run,
}

fn main() -> ExitCode {
    memory::return_large_blocks();
    let cli = Cli::parse();
    let path = cli.config.clone().unwrap_or_else(|| config::DEFAULT_CONFIG_PATH.into());
    let loaded = Config::load(&path, cli.config.is_some());
    if let Some(Command::Config) = cli.command {
        return print_config(loaded);
    }
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("dhis2gw: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), loaded));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dhis2gw: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints what would be used, even when it is invalid, then says what is wrong.
fn print_config(loaded: Result<Loaded, config::ConfigError>) -> ExitCode {
    match loaded {
        Ok(loaded) => {
            match &loaded.file {
                Some(file) => println!("# configuration file: {}", file.display()),
                None => println!("# no configuration file; defaults and environment only"),
            }
            for key in &loaded.unknown_keys {
                println!("# unknown key ignored (misspelled?): {key}");
            }
            for key in &loaded.original_keys {
                println!("# a key of the original dhis2gw, not used here: {key}");
            }
            for warning in &loaded.warnings {
                println!("# {warning}");
            }
            print!("{}", loaded.to_annotated_yaml());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dhis2gw: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command, loaded: Loaded) -> anyhow::Result<()> {
    let config = loaded.config;
    match command {
        // `config` is answered before a runtime starts, so it cannot reach here.
        Command::Config => unreachable!("dhis2gw config is handled in main"),
        Command::Serve => {
            let _flush_log_file_on_exit = telemetry::init(&config)?;
            if let Some(file) = &loaded.file {
                tracing::info!(file = %file.display(), "configuration read");
                for key in &loaded.unknown_keys {
                    tracing::warn!(key, file = %file.display(), "unknown configuration key ignored (misspelled?)");
                }
                for key in &loaded.original_keys {
                    tracing::warn!(key, file = %file.display(), "a key of the original dhis2gw, not used here");
                }
            }
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            let app = Application::build(config).await?;
            app.run_until(startup::shutdown_signal()).await
        }
        Command::Migrate => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool, &config).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::MigrateFromV1 { dry_run, finalize } => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool, &config).await?;
            let ttl = config.server.partner_token_ttl;
            let report = if finalize {
                let report = upgrade::finalize(&pool, ttl).await?;
                println!("{report}the original dhis2gw's tables are dropped; this gateway's are all that is left");
                return Ok(());
            } else {
                let mode = if dry_run { upgrade::Mode::DryRun } else { upgrade::Mode::Import };
                upgrade::adopt(&pool, mode, ttl).await?
            };
            match report {
                None => println!("no database of the original dhis2gw is beside this gateway's: nothing to bring over"),
                Some(report) if dry_run => print!("dry run, nothing changed; would bring over:\n{report}"),
                Some(report) => print!("{report}"),
            }
            Ok(())
        }
        Command::Archive { action } => archive(action, &config).await,
        Command::SetPassword { username, password_stdin } => {
            let password = read_password(password_stdin)?;
            let pool = db::connect(&config).await?;
            db::migrate(&pool, &config).await?;
            let user = users::find_by_username(&pool, &username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username}"))?;
            let patch = UpdateUser { password: Some(password), is_active: Some(true), ..Default::default() };
            users::update(&pool, &users::KnownCredentials::default(), Actor::Cli, &user.uid, patch)
                .await
                .map_err(cli_error)?;
            println!("set the password of {} and enabled it", user.username);
            Ok(())
        }
        Command::CreateUser { username, role, password_stdin, email, firstname, lastname } => {
            let password = read_password(password_stdin)?;
            let pool = db::connect(&config).await?;
            db::migrate(&pool, &config).await?;
            let input = CreateUser {
                username,
                password,
                role: Some(role),
                email,
                firstname,
                lastname,
                is_active: true,
                ..Default::default()
            };
            let user = users::create(&pool, Actor::Cli, input).await.map_err(cli_error)?;
            println!("created {} user {} (uid {})", user.role, user.username, user.uid);
            Ok(())
        }
    }
}

/// A refusal as the command line says it: the problems themselves.
fn cli_error(e: AppError) -> anyhow::Error {
    match e {
        AppError::BadRequest { detail, .. } => anyhow::anyhow!("{}", detail.join("; ")),
        other => anyhow::anyhow!("{other}"),
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for the password; pass --password-stdin and pipe it in");
    }
    let password = rpassword::prompt_password("Password: ")?;
    if rpassword::prompt_password("Repeat password: ")? != password {
        anyhow::bail!("the passwords do not match");
    }
    Ok(password)
}

async fn archive(action: ArchiveAction, config: &Config) -> anyhow::Result<()> {
    let dir = std::path::Path::new(&config.retention.archive_directory);
    match action {
        ArchiveAction::List => {
            let files = archive::list(dir)?;
            if files.is_empty() {
                println!("no archives in {}", dir.display());
            }
            for (path, manifest) in files {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                match manifest {
                    Ok(m) => println!(
                        "{name}  {} submissions  ids {}-{}  submitted {} to {}  {} bytes  checksum ok",
                        m.records,
                        m.first_id,
                        m.last_id,
                        day(m.oldest_submitted_at),
                        day(m.newest_submitted_at),
                        m.bytes
                    ),
                    Err(e) => println!("{name}  NOT USABLE: {e:#}"),
                }
            }
            Ok(())
        }
        ArchiveAction::Show { file } => {
            let path = archive::locate(dir, &file);
            let manifest = archive::verify(&path)?;
            println!("{}", serde_json::to_string_pretty(&manifest)?);
            for record in archive::records(&path)? {
                let r = record?;
                let s = &r.submission;
                let text = |key: &str| s[key].as_str().unwrap_or("-").to_string();
                println!(
                    "{}  {}  {}  data set {}  org unit {}  period {}  {} deliveries  {} attempts",
                    r.id(),
                    text("submitted_at"),
                    text("status"),
                    text("data_set"),
                    text("org_unit"),
                    text("period"),
                    r.destinations.len(),
                    r.attempts.len()
                );
            }
            Ok(())
        }
        ArchiveAction::Restore { file, into_log } => {
            let pool = db::connect(config).await?;
            db::migrate(&pool, config).await?;
            let (manifest, done) = retention::restore(&pool, &archive::locate(dir, &file), into_log).await?;
            let verb = if into_log { "restored" } else { "would restore" };
            println!(
                "{}: {verb} {} submissions; {} already in the log; {} could not come back",
                manifest.file,
                done.restored,
                done.present,
                done.failed.len()
            );
            for failure in &done.failed {
                println!("  {failure}");
            }
            if !into_log && done.restored > 0 {
                println!("nothing changed: add --into-log to restore");
            }
            anyhow::ensure!(done.failed.is_empty(), "{} submissions could not be restored", done.failed.len());
            Ok(())
        }
        ArchiveAction::Run => {
            let pool = db::connect(config).await?;
            db::migrate(&pool, config).await?;
            let done = retention::run(&pool, config).await?;
            for m in &done.files {
                println!("{}: {} submissions archived", m.file, m.records);
            }
            println!("{} submissions deleted from the database", done.deleted);
            Ok(())
        }
    }
}

fn day(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "-".into())
}
