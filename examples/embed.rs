//! A key-value service embedding peregrine through the host: flags, `PEREGRINE_*` variables,
//! `--config`, signals, systemd, `--admin-urls` (metrics, health) come without writing them.
use peregrine::{hosting::HostBuilder, http::Method, AppResult, Handler, HttpContext};
use std::time::{Duration, Instant};
use std::{collections::HashMap, process::ExitCode, sync::Arc, sync::Mutex};

type Store = Arc<Mutex<HashMap<String, (Vec<u8>, Option<Instant>)>>>;

/// `PUT /kv/KEY[?ttl=SECONDS]` stores the body, `GET` reads it, `DELETE` removes it.
pub struct Kv(Store);

impl Handler for Kv {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let (path, query) = (http.request().path(), http.request().query());
        let Some(key) = path.strip_prefix("/kv/").map(str::to_owned) else {
            return Ok(http.set_status(404)?);
        };
        let ttl: Option<f64> = query.strip_prefix("ttl=").and_then(|s| s.parse().ok());
        match http.request().method() {
            Method::Put => {
                let mut value = Vec::new();
                http.read_body_to_end(&mut value, 1 << 20).await?;
                let expires = ttl.map(|s| Instant::now() + Duration::from_secs_f64(s));
                self.0.lock().unwrap().insert(key, (value, expires));
                http.set_status(204)?;
            }
            Method::Get => match self.0.lock().unwrap().get(&key) {
                Some((value, _)) => http.write(value),
                None => http.set_status(404)?,
            },
            Method::Delete => match self.0.lock().unwrap().remove(&key) {
                Some(_) => http.set_status(204)?,
                None => http.set_status(404)?,
            },
            _ => http.set_status(405)?,
        }
        Ok(())
    }
}

/// Runs the service on `host`; a background task drops expired keys ten times a second.
pub fn serve(host: HostBuilder) -> ExitCode {
    let store = Store::default();
    let sweeper = store.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        sweeper
            .lock()
            .unwrap()
            .retain(|_, v| v.1.is_none_or(|e| e > now));
    });
    let routes = "PUT /kv/KEY[?ttl=SECONDS], GET /kv/KEY, DELETE /kv/KEY";
    host.help_section("ROUTES", routes).main(Kv(store))
}

fn main() -> ExitCode {
    serve(HostBuilder::new("kv")) // first thing: the host takes the stop signals
}
