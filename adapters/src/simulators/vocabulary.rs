//! Vietnamese words the synthetic dataset is drawn from: provinces, place and
//! person names, ethnicities, religions, enterprise kinds and trades.
//!
//! Lists carry weights where the real distribution is far from uniform
//! (surnames, ethnicities, religions), so generated data looks plausible.

/// A province of the personal-ID scheme (Circular 07/2016/TT-BCA).
#[derive(Debug)]
pub(crate) struct Province {
    /// The 3-digit code that opens a personal ID.
    pub code: &'static str,
    /// The name as written at the end of an address.
    pub label: &'static str,
    /// Whether it is a centrally-run city, whose communes are wards (phường).
    pub is_city: bool,
}

/// Builds a [`Province`] table entry.
const fn province(code: &'static str, label: &'static str, is_city: bool) -> Province {
    Province {
        code,
        label,
        is_city,
    }
}

/// The 63 provinces whose codes open personal IDs, with their pre-2025 names
/// because the codes were assigned under those names.
pub(crate) const PROVINCES: [Province; 63] = [
    province("001", "thành phố Hà Nội", true),
    province("002", "tỉnh Hà Giang", false),
    province("004", "tỉnh Cao Bằng", false),
    province("006", "tỉnh Bắc Kạn", false),
    province("008", "tỉnh Tuyên Quang", false),
    province("010", "tỉnh Lào Cai", false),
    province("011", "tỉnh Điện Biên", false),
    province("012", "tỉnh Lai Châu", false),
    province("014", "tỉnh Sơn La", false),
    province("015", "tỉnh Yên Bái", false),
    province("017", "tỉnh Hòa Bình", false),
    province("019", "tỉnh Thái Nguyên", false),
    province("020", "tỉnh Lạng Sơn", false),
    province("022", "tỉnh Quảng Ninh", false),
    province("024", "tỉnh Bắc Giang", false),
    province("025", "tỉnh Phú Thọ", false),
    province("026", "tỉnh Vĩnh Phúc", false),
    province("027", "tỉnh Bắc Ninh", false),
    province("030", "tỉnh Hải Dương", false),
    province("031", "thành phố Hải Phòng", true),
    province("033", "tỉnh Hưng Yên", false),
    province("034", "tỉnh Thái Bình", false),
    province("035", "tỉnh Hà Nam", false),
    province("036", "tỉnh Nam Định", false),
    province("037", "tỉnh Ninh Bình", false),
    province("038", "tỉnh Thanh Hóa", false),
    province("040", "tỉnh Nghệ An", false),
    province("042", "tỉnh Hà Tĩnh", false),
    province("044", "tỉnh Quảng Bình", false),
    province("045", "tỉnh Quảng Trị", false),
    province("046", "tỉnh Thừa Thiên Huế", false),
    province("048", "thành phố Đà Nẵng", true),
    province("049", "tỉnh Quảng Nam", false),
    province("051", "tỉnh Quảng Ngãi", false),
    province("052", "tỉnh Bình Định", false),
    province("054", "tỉnh Phú Yên", false),
    province("056", "tỉnh Khánh Hòa", false),
    province("058", "tỉnh Ninh Thuận", false),
    province("060", "tỉnh Bình Thuận", false),
    province("062", "tỉnh Kon Tum", false),
    province("064", "tỉnh Gia Lai", false),
    province("066", "tỉnh Đắk Lắk", false),
    province("067", "tỉnh Đắk Nông", false),
    province("068", "tỉnh Lâm Đồng", false),
    province("070", "tỉnh Bình Phước", false),
    province("072", "tỉnh Tây Ninh", false),
    province("074", "tỉnh Bình Dương", false),
    province("075", "tỉnh Đồng Nai", false),
    province("077", "tỉnh Bà Rịa - Vũng Tàu", false),
    province("079", "Thành phố Hồ Chí Minh", true),
    province("080", "tỉnh Long An", false),
    province("082", "tỉnh Tiền Giang", false),
    province("083", "tỉnh Bến Tre", false),
    province("084", "tỉnh Trà Vinh", false),
    province("086", "tỉnh Vĩnh Long", false),
    province("087", "tỉnh Đồng Tháp", false),
    province("089", "tỉnh An Giang", false),
    province("091", "tỉnh Kiên Giang", false),
    province("092", "thành phố Cần Thơ", true),
    province("093", "tỉnh Hậu Giang", false),
    province("094", "tỉnh Sóc Trăng", false),
    province("095", "tỉnh Bạc Liêu", false),
    province("096", "tỉnh Cà Mau", false),
];

/// Surnames with their rough share per thousand of the population.
pub(crate) const SURNAMES: [(&str, u32); 16] = [
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 30),
    ("Huỳnh", 25),
    ("Phan", 45),
    ("Vũ", 20),
    ("Võ", 20),
    ("Đặng", 21),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
];

/// Middle names usual for men.
pub(crate) const MALE_MIDDLE_NAMES: [&str; 14] = [
    "Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành", "Công", "Xuân", "Quang", "Hoàng", "Gia", "Anh",
    "Đình", "Trọng",
];

/// Middle names usual for women.
pub(crate) const FEMALE_MIDDLE_NAMES: [&str; 12] = [
    "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Phương", "Kim", "Bảo", "Mai", "Hồng", "Khánh", "Diệu",
];

/// Given names usual for men.
pub(crate) const MALE_GIVEN_NAMES: [&str; 32] = [
    "An", "Bình", "Cường", "Dũng", "Duy", "Đạt", "Hải", "Hiếu", "Hùng", "Huy", "Khang", "Khoa",
    "Kiên", "Long", "Minh", "Nam", "Nghĩa", "Phong", "Phúc", "Quân", "Sơn", "Tài", "Thắng",
    "Thành", "Trung", "Tú", "Tuấn", "Việt", "Vinh", "Vũ", "Lộc", "Toàn",
];

/// Given names usual for women.
pub(crate) const FEMALE_GIVEN_NAMES: [&str; 32] = [
    "Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Huyền", "Lan", "Linh",
    "Loan", "Mai", "My", "Nga", "Ngân", "Ngọc", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo", "Thủy",
    "Trang", "Trinh", "Uyên", "Vân", "Yến", "Xuân", "Tuyết", "Hiền",
];

/// Ethnic groups with their rough share per thousand.
pub(crate) const ETHNICITIES: [(&str, u32); 12] = [
    ("Kinh", 853),
    ("Tày", 19),
    ("Thái", 18),
    ("Mường", 15),
    ("H'Mông", 14),
    ("Khmer", 13),
    ("Nùng", 11),
    ("Dao", 9),
    ("Hoa", 8),
    ("Gia Rai", 5),
    ("Ê Đê", 4),
    ("Chăm", 2),
];

/// Religions with their rough share per thousand.
pub(crate) const RELIGIONS: [(&str, u32); 6] = [
    ("Không", 820),
    ("Phật giáo", 90),
    ("Công giáo", 60),
    ("Cao Đài", 12),
    ("Phật giáo Hòa Hảo", 10),
    ("Tin Lành", 8),
];

/// Rural communes (xã); the same names recur across provinces as they do in reality.
pub(crate) const RURAL_COMMUNES: [&str; 24] = [
    "Mỹ Hiệp",
    "Tân Phú",
    "An Bình",
    "Hòa Thành",
    "Phú Lộc",
    "Tân Hiệp",
    "Vĩnh Thạnh",
    "Long Hưng",
    "Thanh Sơn",
    "Đông Hòa",
    "Quảng Phú",
    "Nghĩa Trung",
    "Yên Lạc",
    "Xuân Lâm",
    "Hương Sơn",
    "Bình Minh",
    "Tân Lập",
    "Phước Hòa",
    "Cẩm Thanh",
    "Hưng Đạo",
    "Đại Đồng",
    "Kim Sơn",
    "Thạnh Phú",
    "Mỹ Xuyên",
];

/// Urban wards (phường).
pub(crate) const URBAN_WARDS: [&str; 16] = [
    "Bến Thành",
    "Hoàn Kiếm",
    "Ba Đình",
    "Tân Định",
    "Hòa Khánh",
    "Ninh Kiều",
    "Hồng Bàng",
    "Thạch Thang",
    "Phú Nhuận",
    "Cầu Giấy",
    "Đống Đa",
    "Hải Châu",
    "Sài Gòn",
    "Tây Hồ",
    "An Hải",
    "Chánh Hưng",
];

/// Villages of the north and centre (thôn).
pub(crate) const VILLAGES: [&str; 12] = [
    "Đông",
    "Đoài",
    "Thượng",
    "Hạ",
    "Trung",
    "Phú Mỹ",
    "An Lạc",
    "Hòa Bình",
    "Tân Thịnh",
    "Đồng Tâm",
    "Quyết Tiến",
    "Yên Thái",
];

/// Streets of town addresses.
pub(crate) const STREETS: [&str; 16] = [
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Huệ",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Phan Chu Trinh",
    "Điện Biên Phủ",
    "Nguyễn Trãi",
    "Lê Duẩn",
    "Bà Triệu",
    "Hùng Vương",
    "Quang Trung",
    "Võ Thị Sáu",
    "Cách Mạng Tháng Tám",
    "Nguyễn Văn Cừ",
    "Trần Phú",
];

/// Industrial parks, for the head offices of manufacturers.
pub(crate) const INDUSTRIAL_PARKS: [&str; 8] = [
    "Khu công nghiệp Tân Tạo",
    "Khu công nghiệp Sóng Thần",
    "Khu công nghiệp Thăng Long",
    "Khu công nghiệp Quế Võ",
    "Khu công nghiệp Hòa Khánh",
    "Khu công nghiệp Trà Nóc",
    "Khu công nghiệp Amata",
    "Khu công nghiệp Nam Sách",
];

/// Marital statuses as the population database writes them.
pub(crate) const MARRIED: &str = "Đã kết hôn";
/// Never married.
pub(crate) const NEVER_MARRIED: &str = "Chưa kết hôn";
/// Divorced.
pub(crate) const DIVORCED: &str = "Ly hôn";
/// Widowed.
pub(crate) const WIDOWED: &str = "Góa";

/// The nationality of every simulated citizen.
pub(crate) const NATIONALITY: &str = "Việt Nam";

/// A kind of enterprise and how it shows in Vietnamese and English names.
#[derive(Debug)]
pub(crate) struct EnterpriseKind {
    /// `loaiHinh`, the legal form.
    pub legal_form: &'static str,
    /// What the Vietnamese name starts with.
    pub name_prefix: &'static str,
    /// What the English name ends with.
    pub english_suffix: &'static str,
    /// Weight per thousand among new enterprises.
    pub weight: u32,
}

/// Legal forms of enterprises (Law on Enterprises 2020).
pub(crate) const ENTERPRISE_KINDS: [EnterpriseKind; 5] = [
    EnterpriseKind {
        legal_form: "Công ty TNHH một thành viên",
        name_prefix: "Công ty TNHH MTV",
        english_suffix: "One Member Company Limited",
        weight: 380,
    },
    EnterpriseKind {
        legal_form: "Công ty TNHH hai thành viên trở lên",
        name_prefix: "Công ty TNHH",
        english_suffix: "Company Limited",
        weight: 300,
    },
    EnterpriseKind {
        legal_form: "Công ty cổ phần",
        name_prefix: "Công ty Cổ phần",
        english_suffix: "Joint Stock Company",
        weight: 250,
    },
    EnterpriseKind {
        legal_form: "Doanh nghiệp tư nhân",
        name_prefix: "Doanh nghiệp tư nhân",
        english_suffix: "Private Enterprise",
        weight: 60,
    },
    EnterpriseKind {
        legal_form: "Công ty hợp danh",
        name_prefix: "Công ty Hợp danh",
        english_suffix: "Partnership",
        weight: 10,
    },
];

/// A trade: the word in the enterprise name, its English form and the main
/// VSIC line of business.
#[derive(Debug)]
pub(crate) struct Trade {
    /// Word in the Vietnamese name.
    pub name: &'static str,
    /// Word in the English name.
    pub english: &'static str,
    /// `nganhNgheChinh`: VSIC 2018 code and title.
    pub main_line: &'static str,
    /// Whether its head office is likely in an industrial park.
    pub manufacturing: bool,
}

/// Trades of simulated enterprises.
pub(crate) const TRADES: [Trade; 12] = [
    Trade {
        name: "Thương mại Dịch vụ",
        english: "Trading and Services",
        main_line: "4690 - Bán buôn tổng hợp",
        manufacturing: false,
    },
    Trade {
        name: "Xây dựng",
        english: "Construction",
        main_line: "4100 - Xây dựng nhà các loại",
        manufacturing: false,
    },
    Trade {
        name: "Công nghệ Thông tin",
        english: "Information Technology",
        main_line: "6201 - Lập trình máy vi tính",
        manufacturing: false,
    },
    Trade {
        name: "Vận tải",
        english: "Transport",
        main_line: "4933 - Vận tải hàng hóa bằng đường bộ",
        manufacturing: false,
    },
    Trade {
        name: "Thực phẩm",
        english: "Food",
        main_line: "1079 - Sản xuất thực phẩm khác chưa được phân vào đâu",
        manufacturing: true,
    },
    Trade {
        name: "Nông sản",
        english: "Agricultural Products",
        main_line: "4620 - Bán buôn nông, lâm sản nguyên liệu (trừ gỗ, tre, nứa) và động vật sống",
        manufacturing: false,
    },
    Trade {
        name: "Du lịch",
        english: "Travel",
        main_line: "7911 - Đại lý du lịch",
        manufacturing: false,
    },
    Trade {
        name: "Thủy sản",
        english: "Seafood",
        main_line: "1020 - Chế biến, bảo quản thủy sản và các sản phẩm từ thủy sản",
        manufacturing: true,
    },
    Trade {
        name: "Dệt may",
        english: "Textile and Garment",
        main_line: "1410 - May trang phục (trừ trang phục từ da lông thú)",
        manufacturing: true,
    },
    Trade {
        name: "Cơ khí",
        english: "Mechanical Engineering",
        main_line: "2592 - Gia công cơ khí; xử lý và tráng phủ kim loại",
        manufacturing: true,
    },
    Trade {
        name: "Bất động sản",
        english: "Real Estate",
        main_line: "6810 - Kinh doanh bất động sản, quyền sử dụng đất thuộc chủ sở hữu, chủ sử dụng hoặc đi thuê",
        manufacturing: false,
    },
    Trade {
        name: "Tư vấn Kế toán",
        english: "Accounting Consultancy",
        main_line: "6920 - Hoạt động liên quan đến kế toán, kiểm toán và tư vấn về thuế",
        manufacturing: false,
    },
];

/// First syllables of enterprise brand names, with their unaccented English spelling.
pub(crate) const BRAND_FIRST: [(&str, &str); 24] = [
    ("Phú", "Phu"),
    ("Hưng", "Hung"),
    ("Thành", "Thanh"),
    ("Minh", "Minh"),
    ("Tân", "Tan"),
    ("An", "An"),
    ("Đại", "Dai"),
    ("Trường", "Truong"),
    ("Việt", "Viet"),
    ("Bình", "Binh"),
    ("Kim", "Kim"),
    ("Hải", "Hai"),
    ("Phương", "Phuong"),
    ("Đông", "Dong"),
    ("Thiên", "Thien"),
    ("Nam", "Nam"),
    ("Quang", "Quang"),
    ("Lộc", "Loc"),
    ("Gia", "Gia"),
    ("Tiến", "Tien"),
    ("Hoàng", "Hoang"),
    ("Sao", "Sao"),
    ("Hồng", "Hong"),
    ("Ngọc", "Ngoc"),
];

/// Second syllables of enterprise brand names, with their unaccented English spelling.
pub(crate) const BRAND_SECOND: [(&str, &str); 20] = [
    ("Phát", "Phat"),
    ("Thịnh", "Thinh"),
    ("Long", "Long"),
    ("Việt", "Viet"),
    ("Gia", "Gia"),
    ("Tiến", "Tien"),
    ("Phú", "Phu"),
    ("Dương", "Duong"),
    ("Sơn", "Son"),
    ("Minh", "Minh"),
    ("Đăng", "Dang"),
    ("Nam", "Nam"),
    ("Á", "A"),
    ("Phúc", "Phuc"),
    ("Huy", "Huy"),
    ("Đạt", "Dat"),
    ("Khang", "Khang"),
    ("Lợi", "Loi"),
    ("Hưng", "Hung"),
    ("Anh", "Anh"),
];

/// Statuses of enterprises with their rough share per thousand.
pub(crate) const ENTERPRISE_STATUSES: [(&str, u32); 4] = [
    ("Đang hoạt động", 870),
    ("Tạm ngừng kinh doanh có thời hạn", 60),
    ("Đang làm thủ tục giải thể", 25),
    ("Đã giải thể", 45),
];
