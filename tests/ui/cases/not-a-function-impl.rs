use retry_runtime::retry;

struct Client;

// On an `impl` block, not on each of its methods.
#[retry]
impl Client {
    fn fetch(&self) -> Result<u32, std::io::Error> {
        Ok(1)
    }
}

fn main() {
    let _ = Client.fetch();
}
