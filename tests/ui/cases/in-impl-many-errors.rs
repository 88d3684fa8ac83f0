use retry_runtime::retry;

struct Client;

impl Client {
    // The method is kept as written, so the call below still resolves.
    #[retry(max_attempts = 0, jitter = some)]
    fn fetch(&self) -> Result<u32, std::io::Error> {
        Ok(1)
    }
}

fn main() {
    let _ = Client.fetch();
}
