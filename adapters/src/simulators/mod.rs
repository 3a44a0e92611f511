//! Simulators of the national services the province reads (population,
//! civil status, business registration, social insurance, land), plus echo
//! routes for the gateway's tests and a control plane to inject faults.
//!
//! All simulators answer from one synthetic dataset generated from a seed,
//! so the same seed gives the same citizens and enterprises on every machine.
//! Routes (all on one listener):
//!
//! | route | answer |
//! |---|---|
//! | `GET /population/v1/citizens/{soDinhDanh}` | the citizen |
//! | `POST /civil-status/v1/records` | a birth (`khaiSinh`), marriage (`ketHon`) or death (`khaiTu`) record, XML inside JSON |
//! | `GET /enterprise/v1/enterprises/{maDoanhNghiep}` | the enterprise |
//! | `GET /social-insurance/v1/households/{soDinhDanh}` | the citizen's household |
//! | `POST /enterprise/v1/soap` | the enterprise, as SOAP 1.1 (`contracts/soap/enterprise-lookup.toml`) |
//! | `GET /land/v1/parcels/{maThuaDat}` | the land parcel |
//! | `POST /ndxp/oauth2/token` | an NDXP access token for the configured client ([`NdxpTokenSettings`]) |
//! | `GET /ndxp/v1/population/citizens/{soDinhDanh}` | the citizen, through NDXP (token and `X-NDXP-*` headers checked) |
//! | `POST /ndxp/v1/civil-status/records` | a civil-status record (`khaiSinh`, `ketHon`, `khaiTu`), through NDXP |
//! | `GET /ndxp/v1/social-insurance/households/{soDinhDanh}` | the household, through NDXP |
//! | `POST /ndxp/v1/criminal-record/requests` | files a criminal-record certificate request, answers its status |
//! | `GET /ndxp/v1/criminal-record/requests/{maYeuCau}` | where the request with dossier number `maYeuCau` stands |
//! | `GET /fixed` | a constant body |
//! | `/echo/v1/{bytes/{n},upload,inspect[/*],slow/{ms}}` | test helpers |
//! | `PUT /__sim/faults/{route}`, `GET`/`DELETE /__sim/faults` | fault knobs (SOAP routes fail with faults and break their XML) |
//! | `GET`/`DELETE /__sim/stats` | hits per route family |
//! | `GET /__sim/ndxp/last-headers` | the `X-NDXP-*` headers of the last `/ndxp/v1` request |
//! | `POST /__sim/ndxp/expire-tokens` | every NDXP token issued so far expires (fault "expired token") |
//! | `PUT /vapex/v1/catalogue/{agencyCode}/{serviceCode}/{version}` | V-APEX: publishes a descriptor under an `Idempotency-Key` (bearer, [`VapexCatalogueSettings`]; `contracts/vapex/publication-api.md`) |
//! | `GET /vapex/v1/publications/{publicationId}` | V-APEX: where a publication stands (bearer) |
//! | `GET /vapex/v1/catalogue[/{agencyCode}/{serviceCode}/{version}]` | V-APEX: the public catalogue, or one entry |
//! | `GET`/`DELETE /__sim/vapex/stats` | V-APEX requests, publications and duplicate deliveries |
//! | `GET /ndop/v1/{citizens/{soDinhDanh},land/parcels/{maThuaDat}}` | NDOP, on its own mTLS listener ([`Simulator::serve_ndop`], [`NdopPki`]): signed requests and answers, knob `bad_signature_next` |

mod calendar;
mod civil_status;
mod control;
mod criminal_record;
mod dataset;
mod echo;
mod enterprise;
mod enterprise_soap;
mod faults;
mod land;
mod ndop;
mod ndop_pki;
mod ndxp;
mod ndxp_token;
mod population;
mod replies;
mod routes;
mod server;
mod social_insurance;
mod vapex;
mod vocabulary;

#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use dataset::Dataset;
use faults::FaultBoard;
pub use ndop_pki::{NdopPki, NdopPkiFiles};
pub use ndxp_token::NdxpTokenSettings;
use ndxp_token::TokenIssuer;
pub use vapex::VapexCatalogueSettings;

/// Options of the simulators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatorOptions {
    /// Seed of the dataset and of fault rates.
    pub seed: u64,
    /// How many citizens the dataset holds.
    pub citizens: usize,
    /// How many enterprises the dataset holds.
    pub enterprises: usize,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        SimulatorOptions {
            seed: 2026,
            citizens: 10_000,
            enterprises: 2_000,
        }
    }
}

/// The simulators of national services, sharing one dataset.
///
/// Clones share the dataset, the faults and the statistics.
#[derive(Clone)]
pub struct Simulator {
    dataset: Arc<Dataset>,
    faults: Arc<FaultBoard>,
    ndxp_tokens: Arc<TokenIssuer>,
    ndxp: Arc<ndxp::NdxpState>,
    criminal_records: Arc<criminal_record::CriminalRecords>,
    vapex: Arc<vapex::VapexState>,
    seed: u64,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("seed", &self.seed)
            .field("citizens", &self.dataset.citizens().len())
            .field("enterprises", &self.dataset.enterprises().len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Builds the dataset deterministically from the options' seed.
    pub fn new(options: SimulatorOptions) -> Simulator {
        let dataset = Dataset::generate(options.seed, options.citizens, options.enterprises);
        Simulator {
            dataset: Arc::new(dataset),
            faults: Arc::new(FaultBoard::new(options.seed)),
            ndxp_tokens: Arc::new(TokenIssuer::default()),
            ndxp: Arc::default(),
            criminal_records: Arc::default(),
            vapex: Arc::default(),
            seed: options.seed,
        }
    }

    /// The same simulator with the NDXP token endpoint accepting another client or token lifetime.
    pub fn with_ndxp_tokens(mut self, settings: NdxpTokenSettings) -> Simulator {
        self.ndxp_tokens = Arc::new(TokenIssuer::new(settings));
        self
    }

    /// The client and token lifetime the NDXP token endpoint uses.
    pub fn ndxp_token_settings(&self) -> &NdxpTokenSettings {
        &self.ndxp_tokens.settings
    }

    /// The same simulator with V-APEX accepting another token or taking time to publish.
    pub fn with_vapex(mut self, settings: VapexCatalogueSettings) -> Simulator {
        self.vapex = Arc::new(vapex::VapexState::new(settings));
        self
    }

    /// The token and processing delay the simulated V-APEX uses.
    pub fn vapex_settings(&self) -> &VapexCatalogueSettings {
        &self.vapex.settings
    }

    /// `n` personal IDs that exist in the dataset, in a seeded order (distinct up to the population size).
    pub fn sample_personal_ids(&self, n: usize) -> Vec<String> {
        self.dataset.sample_personal_ids(self.seed, n)
    }

    /// Personal IDs of up to `n` deceased citizens, whose death record the civil-status service answers.
    pub fn sample_deceased_ids(&self, n: usize) -> Vec<String> {
        self.dataset.deceased_personal_ids(n)
    }

    /// `n` enterprise codes that exist in the dataset, in a seeded order (distinct up to their number).
    pub fn sample_enterprise_codes(&self, n: usize) -> Vec<String> {
        self.dataset.sample_enterprise_codes(self.seed, n)
    }

    /// `n` land-parcel codes that exist in the dataset, in a seeded order (distinct up to their number).
    pub fn sample_parcel_codes(&self, n: usize) -> Vec<String> {
        self.dataset.land().sample_codes(self.seed, n)
    }

    /// Serves every simulator on `listener` until `shutdown` resolves, then drains open connections for up to 5 s.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        server::serve(routes::router(self), listener, shutdown).await
    }
}
