//! The one router of the simulators: every national service, the echo
//! routes and the `/__sim` control plane, each data family behind its fault
//! gate.

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{any, get, post, put};

use super::faults::{self, FaultGate, RouteKey};
use super::{
    Simulator, civil_status, control, criminal_record, echo, enterprise, enterprise_soap, land,
    ndxp, ndxp_token, population, replies, social_insurance, vapex,
};

/// Puts a route family behind the fault gate of `key`; the gate only runs
/// for matched routes, so unknown paths are not counted.
fn gated(simulator: &Simulator, key: RouteKey, routes: Router<Simulator>) -> Router<Simulator> {
    let gate = FaultGate {
        board: simulator.faults.clone(),
        key,
    };
    routes.route_layer(from_fn_with_state(gate, faults::apply_faults))
}

/// Answer for paths no simulated service has.
async fn unknown_service() -> Response {
    replies::lgsp_error(
        StatusCode::NOT_FOUND,
        "SERVICE_NOT_FOUND",
        "Không tìm thấy dịch vụ",
    )
}

/// Builds the router over a simulator's dataset and fault board.
pub(crate) fn router(simulator: Simulator) -> Router {
    let population = Router::new().route(
        "/population/v1/citizens/{so_dinh_danh}",
        get(population::citizen),
    );
    let civil_status = Router::new().route("/civil-status/v1/records", post(civil_status::records));
    let enterprise = Router::new().route(
        "/enterprise/v1/enterprises/{ma_doanh_nghiep}",
        get(enterprise::enterprise),
    );
    let social_insurance = Router::new().route(
        "/social-insurance/v1/households/{so_dinh_danh}",
        get(social_insurance::household),
    );
    let enterprise_soap = Router::new().route("/enterprise/v1/soap", post(enterprise_soap::lookup));
    let land = Router::new().route("/land/v1/parcels/{ma_thua_dat}", get(land::parcel));
    let ndxp_token = Router::new().route("/ndxp/oauth2/token", post(ndxp_token::token));
    // The national services again, as NDXP relays them: same handlers,
    // behind the platform's token and header checks (outermost, so a
    // refused request never reaches the fault knobs or the service).
    let ndxp_services = Router::new()
        .route(
            "/ndxp/v1/population/citizens/{so_dinh_danh}",
            get(population::citizen),
        )
        .route("/ndxp/v1/civil-status/records", post(civil_status::records))
        .route(
            "/ndxp/v1/social-insurance/households/{so_dinh_danh}",
            get(social_insurance::household),
        )
        .route(
            "/ndxp/v1/criminal-record/requests",
            post(criminal_record::submit),
        )
        .route(
            "/ndxp/v1/criminal-record/requests/{ma_yeu_cau}",
            get(criminal_record::lookup),
        );
    let ndxp_services = gated(&simulator, RouteKey::Ndxp, ndxp_services)
        .route_layer(from_fn_with_state(simulator.clone(), ndxp::guard));
    // V-APEX: counted outside the fault gate, so faulted requests show in
    // its stats too; the gate answers before the handlers, so a faulted
    // request never creates a publication.
    let vapex = Router::new()
        .route("/vapex/v1/catalogue", get(vapex::catalogue))
        .route(
            "/vapex/v1/catalogue/{agency_code}/{service_code}/{version}",
            get(vapex::entry).put(vapex::submit),
        )
        .route(
            "/vapex/v1/publications/{publication_id}",
            get(vapex::publication),
        );
    let vapex = gated(&simulator, RouteKey::Vapex, vapex)
        .route_layer(from_fn_with_state(simulator.clone(), vapex::count_request));
    let echo = Router::new()
        .route("/echo/v1/bytes/{n}", get(echo::bytes))
        .route("/echo/v1/upload", post(echo::upload).put(echo::upload))
        .route("/echo/v1/inspect", any(echo::inspect))
        .route("/echo/v1/inspect/{*rest}", any(echo::inspect))
        .route("/echo/v1/slow/{ms}", get(echo::slow));
    let fixed = Router::new().route("/fixed", get(echo::fixed));
    let control = Router::new()
        .route(
            "/__sim/faults",
            get(control::get_faults).delete(control::clear_faults),
        )
        .route("/__sim/faults/{route}", put(control::put_faults))
        .route(
            "/__sim/stats",
            get(control::get_stats).delete(control::reset_stats),
        )
        .route("/__sim/ndxp/last-headers", get(ndxp::last_headers))
        .route("/__sim/ndxp/expire-tokens", post(ndxp::expire_tokens))
        .route(
            "/__sim/vapex/stats",
            get(vapex::stats).delete(vapex::reset_stats),
        );

    Router::new()
        .merge(gated(&simulator, RouteKey::Population, population))
        .merge(gated(&simulator, RouteKey::CivilStatus, civil_status))
        .merge(gated(&simulator, RouteKey::Enterprise, enterprise))
        .merge(gated(
            &simulator,
            RouteKey::SocialInsurance,
            social_insurance,
        ))
        .merge(gated(&simulator, RouteKey::EnterpriseSoap, enterprise_soap))
        .merge(gated(&simulator, RouteKey::Land, land))
        .merge(gated(&simulator, RouteKey::NdxpToken, ndxp_token))
        .merge(ndxp_services)
        .merge(vapex)
        .merge(gated(&simulator, RouteKey::Echo, echo))
        .merge(gated(&simulator, RouteKey::Fixed, fixed))
        .merge(control)
        .fallback(unknown_service)
        .with_state(simulator)
}
