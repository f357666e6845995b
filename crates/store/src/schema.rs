//! The portable diesel schema, written by hand: the same tables on SQLite and
//! PostgreSQL (see `migrations/sqlite` and `migrations/postgres`).

diesel::table! {
    geo_units (code) {
        code -> Integer,
        level -> Text,
        name -> Text,
        parent_code -> Nullable<Integer>,
    }
}

diesel::table! {
    households (id) {
        id -> BigInt,
        province_code -> Integer,
        district_code -> Integer,
        tehsil_code -> Integer,
        uc_code -> Integer,
        village -> Text,
        address_line -> Text,
        latitude -> Double,
        longitude -> Double,
        rooms -> Integer,
        tenure -> Text,
        wall_material -> Text,
        roof_material -> Text,
        toilet -> Text,
        water_source -> Text,
        electricity -> Text,
        cooking_fuel -> Text,
        has_refrigerator -> Bool,
        has_television -> Bool,
        has_washing_machine -> Bool,
        has_air_conditioner -> Bool,
        has_motorcycle -> Bool,
        has_car -> Bool,
        land_acres -> Double,
        cattle -> Integer,
        goats_sheep -> Integer,
        size -> Integer,
        pmt_score -> Double,
        survey_date -> Date,
        beneficiary_status -> Text,
        programme -> Nullable<Text>,
        enrolment_date -> Nullable<Date>,
        beneficiary_cnic -> Nullable<Text>,
        payment_channel -> Nullable<Text>,
    }
}

diesel::table! {
    members (id) {
        id -> BigInt,
        household_id -> BigInt,
        line_no -> Integer,
        cnic -> Text,
        full_name -> Text,
        guardian_name -> Text,
        relation -> Text,
        gender -> Text,
        date_of_birth -> Date,
        marital_status -> Text,
        disability -> Text,
        education -> Text,
        school_enrolled -> Nullable<Bool>,
        employment_status -> Text,
        occupation -> Nullable<Text>,
        contact_number -> Nullable<Text>,
        sensitive_answers -> Nullable<Text>,
    }
}

diesel::table! {
    cct_payments (id) {
        id -> BigInt,
        household_id -> BigInt,
        instalment -> Text,
        amount_pkr -> BigInt,
        paid_on -> Date,
        channel -> Text,
    }
}

diesel::table! {
    household_flags (id) {
        id -> BigInt,
        household_id -> BigInt,
        kind -> Text,
        status -> Text,
        source -> Text,
        source_ref -> Text,
        raised_at -> Timestamp,
        cleared_at -> Nullable<Timestamp>,
        note -> Nullable<Text>,
    }
}

diesel::joinable!(members -> households (household_id));
diesel::joinable!(cct_payments -> households (household_id));
diesel::joinable!(household_flags -> households (household_id));

diesel::allow_tables_to_appear_in_same_query!(
    geo_units,
    households,
    members,
    cct_payments,
    household_flags,
);

diesel::table! {
    organisations (id) {
        id -> BigInt,
        name -> Text,
        org_type -> Text,
        standing -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    client_systems (id) {
        id -> BigInt,
        name -> Text,
        organisation_id -> BigInt,
        kind -> Text,
        service_role -> Text,
        cert_sha256 -> Text,
        status -> Text,
        rate_per_second -> Integer,
        burst -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        organisation_id -> BigInt,
        role -> Text,
        duties -> Text,
        full_name -> Text,
        designation -> Text,
        district_code -> Nullable<Integer>,
        tehsil_code -> Nullable<Integer>,
        status -> Text,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    grants (id) {
        id -> BigInt,
        organisation_id -> BigInt,
        search_types -> Text,
        classes -> Text,
        purpose -> Text,
        row_quota -> BigInt,
        valid_from -> Date,
        valid_to -> Date,
        approved_by -> Text,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    pos_transactions (id) {
        id -> BigInt,
        client_system_id -> BigInt,
        transaction_id -> Text,
        payload_sha256 -> Text,
        store_id -> Text,
        terminal_id -> Text,
        cnic -> Text,
        occurred_at -> Timestamp,
        total_paisa -> BigInt,
        subsidy_paisa -> BigInt,
        received_at -> Timestamp,
    }
}

diesel::table! {
    pos_items (id) {
        id -> BigInt,
        pos_transaction_id -> BigInt,
        line_no -> Integer,
        sku -> Text,
        category -> Text,
        quantity -> Double,
        unit_price_paisa -> BigInt,
        subsidy_paisa -> BigInt,
    }
}

diesel::joinable!(client_systems -> organisations (organisation_id));
diesel::joinable!(users -> organisations (organisation_id));
diesel::joinable!(grants -> organisations (organisation_id));
diesel::joinable!(pos_items -> pos_transactions (pos_transaction_id));

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    client_systems,
    users,
    grants,
    pos_transactions,
    pos_items,
);
