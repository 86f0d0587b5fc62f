//! `codeloop mcp`: starts the MCP server ([`crate::mcp`]) on stdin/stdout. Logs and errors go
//! to stderr; stdout belongs to the protocol.

use crate::cli::McpArgs;
use crate::exit;

pub fn run(args: McpArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::errln!("error: cannot start the async runtime: {e}");
            return exit::INFRA;
        }
    };
    match rt.block_on(crate::mcp::serve((&args.common).into())) {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::errln!("error: {e}");
            crate::errln!(
                "hint: `codeloop mcp` is started by an MCP client (see `codeloop init --mcp`)"
            );
            exit::INFRA
        }
    }
}
