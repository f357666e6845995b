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

diesel::table! {
    access_batches (id) {
        id -> BigInt,
        committed_at -> Timestamp,
        record_count -> Integer,
        records_hash -> Text,
        prev_hash -> Text,
        batch_hash -> Text,
    }
}

diesel::table! {
    access_chain_head (id) {
        id -> Integer,
        last_batch_id -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    access_log (id) {
        id -> BigInt,
        batch_id -> BigInt,
        at -> Timestamp,
        request_id -> Text,
        client_ip -> Text,
        organisation_id -> Nullable<BigInt>,
        organisation_name -> Nullable<Text>,
        org_type -> Nullable<Text>,
        client_system_id -> Nullable<BigInt>,
        client_name -> Nullable<Text>,
        user_id -> Nullable<BigInt>,
        user_name -> Nullable<Text>,
        search_type -> Text,
        endpoint -> Text,
        parameters -> Text,
        subject_hash -> Nullable<Text>,
        rows_returned -> BigInt,
        status -> Integer,
        grant_id -> Nullable<BigInt>,
        purpose -> Nullable<Text>,
        withheld -> Text,
        subject_key -> Nullable<BigInt>,
    }
}

diesel::table! {
    usage_daily (day, organisation_id, client_system_id, search_type, grant_id) {
        day -> Date,
        organisation_id -> BigInt,
        client_system_id -> BigInt,
        search_type -> Text,
        grant_id -> BigInt,
        requests -> BigInt,
        rows_returned -> BigInt,
    }
}

diesel::table! {
    bill_lines (id) {
        id -> BigInt,
        period -> Text,
        organisation_id -> BigInt,
        service -> Text,
        kind -> Text,
        rows_billed -> BigInt,
        rate_paisa -> BigInt,
        amount_paisa -> BigInt,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    closed_periods (period) {
        period -> Text,
        closed_at -> Timestamp,
        log_rows -> BigInt,
        billed_rows -> BigInt,
    }
}

diesel::joinable!(access_log -> access_batches (batch_id));
diesel::allow_tables_to_appear_in_same_query!(access_batches, access_log);

diesel::table! {
    bill_line_details (line_id) {
        line_id -> BigInt,
        organisation_name -> Text,
        rate_class -> Text,
        per_rows -> BigInt,
        requests -> BigInt,
        segment_from -> Nullable<Date>,
        segment_to -> Nullable<Date>,
    }
}

diesel::table! {
    closed_period_details (period) {
        period -> Text,
        log_requests -> BigInt,
        billed_requests -> BigInt,
        rate_card -> Text,
        sample_rates -> Bool,
    }
}

diesel::joinable!(bill_line_details -> bill_lines (line_id));
diesel::joinable!(closed_period_details -> closed_periods (period));
diesel::allow_tables_to_appear_in_same_query!(bill_lines, bill_line_details);
diesel::allow_tables_to_appear_in_same_query!(closed_periods, closed_period_details);
