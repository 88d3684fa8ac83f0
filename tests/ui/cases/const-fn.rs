use retry_runtime::retry;

#[retry]
const fn fetch() -> Result<u32, std::io::ErrorKind> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
