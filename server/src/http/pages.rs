//! The pages people open in a browser: a landing page at `/`, the Markdown documentation
//! from `server.docs_directory` at `/docs/{page}`, and `server.static_directory` at
//! `/static/`. Templates come from `server.templates_directory` (`index.html`, `doc.html`,
//! `style.html`), falling back to the built-in ones, and are re-read on every request so an
//! edited template shows without a restart.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, header};
use axum::response::Html;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, context};
use serde::Serialize;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::AppState;
use crate::infra::error::{AppError, AppResult};

const BUILT_IN_TEMPLATES: [(&str, &str); 3] = [
    ("index.html", include_str!("../../templates/index.html")),
    ("doc.html", include_str!("../../templates/doc.html")),
    ("style.html", include_str!("../../templates/style.html")),
];

/// Longest documentation page name accepted in a URL.
const MAX_PAGE_NAME: usize = 100;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", axum::routing::get(landing))
        .route("/docs", axum::routing::get(landing))
        .route("/docs/", axum::routing::get(landing))
        .route("/docs/{page}", axum::routing::get(doc_page))
        // ServeDir refuses `..` and answers 404 outside the directory.
        .nest_service("/static", ServeDir::new(&state.config.server.static_directory))
        // The pages run no script at all and load only their own images and styles.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; \
                 form-action 'none'; frame-ancestors 'none'",
            ),
        ))
}

#[derive(Serialize)]
struct DocLink {
    name: String,
    title: String,
}

async fn landing(State(state): State<AppState>) -> AppResult<Html<String>> {
    off_the_runtime(move || {
        let docs = list_docs(&state.config.server.docs_directory);
        let console = super::console::installed(&state);
        render(&state, "index.html", context! { version => crate::VERSION, docs => Value::from(Serde(&docs)), console })
    })
    .await
}

async fn doc_page(State(state): State<AppState>, UrlPath(page): UrlPath<String>) -> AppResult<Html<String>> {
    off_the_runtime(move || {
        let name = page.strip_suffix(".md").unwrap_or(&page);
        let dir = Path::new(&state.config.server.docs_directory);
        let not_found = || AppError::NotFound(format!("No documentation page '{name}'"));
        let path = page_path(dir, name).ok_or_else(not_found)?;
        let markdown = std::fs::read_to_string(&path).map_err(|_| not_found())?;
        let docs = list_docs(&state.config.server.docs_directory);
        let title = title_of(&markdown).unwrap_or(name).to_string();
        let body = markdown_to_html(&markdown);
        let ctx = context! { version => crate::VERSION, docs => Value::from(Serde(&docs)), name, title, body };
        render(&state, "doc.html", ctx)
    })
    .await
}

/// Pages read files (templates, guides) and follow links: blocking work, done on the
/// blocking pool so the async workers keep serving.
async fn off_the_runtime(page: impl FnOnce() -> AppResult<Html<String>> + Send + 'static) -> AppResult<Html<String>> {
    tokio::task::spawn_blocking(page).await.map_err(|e| AppError::Internal(anyhow::anyhow!("page rendering: {e}")))?
}

/// The file behind a page name, only if it is a plain name and the file (after following
/// links) lies inside the docs directory.
fn page_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty()
        && name.len() <= MAX_PAGE_NAME
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return None;
    }
    let root = dir.canonicalize().ok()?;
    let file = root.join(format!("{name}.md")).canonicalize().ok()?;
    file.starts_with(&root).then_some(file)
}

/// The guides in the docs directory, by file name, with their first `# ` heading as title.
fn list_docs(dir: &str) -> Vec<DocLink> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut docs: Vec<DocLink> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let name = file_name.strip_suffix(".md")?;
            let path = page_path(Path::new(dir), name)?;
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let title = title_of(&text).unwrap_or(name).to_string();
            Some(DocLink { name: name.to_string(), title })
        })
        .collect();
    docs.sort_by(|a, b| a.name.cmp(&b.name));
    docs
}

fn title_of(markdown: &str) -> Option<&str> {
    markdown.lines().find_map(|line| line.strip_prefix("# ")).map(str::trim)
}

/// HTML of a guide; every heading gets an id (`## Partner API tokens` → `partner-api-tokens`)
/// so guides can link to each other's sections.
fn markdown_to_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_HEADING_ATTRIBUTES;
    let mut events: Vec<Event> = Parser::new_ext(markdown, options).collect();
    let mut heading_start = None;
    let mut text = String::new();
    for i in 0..events.len() {
        match &events[i] {
            Event::Start(Tag::Heading { id: None, .. }) => (heading_start, text) = (Some(i), String::new()),
            Event::Text(t) | Event::Code(t) if heading_start.is_some() => text.push_str(t),
            Event::End(TagEnd::Heading(_)) => {
                if let Some(Event::Start(Tag::Heading { id, .. })) =
                    heading_start.take().map(|start| &mut events[start])
                {
                    *id = Some(slug(&text).into());
                }
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    out
}

fn slug(heading: &str) -> String {
    let words: Vec<String> = heading
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    words.join("-")
}

fn render(state: &AppState, name: &str, ctx: Value) -> AppResult<Html<String>> {
    let dir = PathBuf::from(&state.config.server.templates_directory);
    let mut env = Environment::new();
    env.set_loader(move |name| {
        if !name.contains(['/', '\\'])
            && let Ok(text) = std::fs::read_to_string(dir.join(name))
        {
            return Ok(Some(text));
        }
        Ok(BUILT_IN_TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, text)| text.to_string()))
    });
    let template = env.get_template(name).map_err(template_error)?;
    template.render(ctx).map(Html).map_err(template_error)
}

/// A broken custom template is the operator's to fix; the log says where.
fn template_error(e: minijinja::Error) -> AppError {
    AppError::Internal(anyhow::anyhow!("template error (server.templates_directory): {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_inside_the_docs_directory_are_pages() {
        let root = std::env::temp_dir().join(format!("dhis2gw-docs-{}", uuid::Uuid::new_v4()));
        let docs = root.join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("guide.md"), "# Guide\n").unwrap();
        std::fs::write(root.join("secret.md"), "# Secret\n").unwrap();
        std::os::unix::fs::symlink(root.join("secret.md"), docs.join("escape.md")).unwrap();
        assert_eq!(page_path(&docs, "guide"), Some(docs.join("guide.md").canonicalize().unwrap()));
        for hostile in ["../secret", "..", "", ".hidden", "a/b", "escape", "guide%2F..", "missing"] {
            assert_eq!(page_path(&docs, hostile), None, "{hostile}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn markdown_tables_and_titles_render() {
        let md = "# Partner guide\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        assert_eq!(title_of(md), Some("Partner guide"));
        let html = markdown_to_html(md);
        assert!(html.contains(r#"<h1 id="partner-guide">Partner guide</h1>"#) && html.contains("<td>1</td>"), "{html}");
        let html = markdown_to_html("## Tokens, `Basic` & more\n## Own {#custom}\n");
        assert!(html.contains(r#"<h2 id="tokens-basic-more">"#) && html.contains(r#"<h2 id="custom">"#), "{html}");
    }
}
