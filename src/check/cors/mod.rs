//! CORS: browsers on localhost (and the production origin) may call the API
//! with the token header; nobody else, and never `*`.
//!
//! The checks are listed here in catalogue order; their code is in
//! [`allowed`] (what an allowed origin gets) and [`unrelated`] (what a
//! look-alike gets), the origins and header readers they share in
//! [`origins`].

mod allowed;
mod origins;
mod unrelated;

use allowed::{errors_vary_expose, ordinary_echo, preflight, refusal_echo};
use unrelated::unrelated_origin;

use super::definition::checks;

checks! {
    "CORS-1.1" "CORS-1" Must Normal ["cors"] preflight
        "A preflight from an allowed origin answers 2xx, echoes the origin, allows the authorization header and the method";
    "CORS-2.1" "CORS-2" Must Normal ["cors"] ordinary_echo
        "Successful answers of GET and POST endpoints to an allowed origin carry Access-Control-Allow-Origin with that origin";
    "CORS-2b.1" "CORS-2b" Should Normal ["cors"] errors_vary_expose
        "4xx answers (401, 403, 404, 417) of GET and POST endpoints carry it too, with Vary: Origin, and Expose-Headers names the X-RateLimit headers";
    "CORS-2b.2" "CORS-2b" Should Exhausting ["cors"] refusal_echo
        "Rate-limit refusals (GET and POST) to an allowed origin carry it too, with Vary: Origin and the X-RateLimit headers exposed";
    "CORS-3.1" "CORS-3" Must Normal ["cors"] unrelated_origin
        "Origins that only resemble an allowed one get no Access-Control-Allow-Origin (preflights, GET and POST), and no answer ever carries `*`";
}
