//! Tables, as diesel sees them. Kept by hand, in step with both migration sets.

diesel::table! {
    versions (id) {
        id -> Text,
        sha256 -> Text,
        file_name -> Nullable<Text>,
        format -> Text,
        store_key -> Text,
        size_bytes -> BigInt,
        uploaded_by -> Text,
        created_at -> Timestamp,
        report -> Text,
        step_count -> Integer,
        scene_count -> Integer,
        choice_count -> Integer,
        warning_count -> Integer,
    }
}

diesel::table! {
    steps (version_id, key) {
        version_id -> Text,
        key -> Text,
        position -> Integer,
    }
}

diesel::table! {
    scenes (version_id, key) {
        version_id -> Text,
        key -> Text,
        step_key -> Text,
        position -> Integer,
        sheet_row -> Integer,
        condition_name -> Text,
        weight -> Double,
        input_kind -> Text,
        save_as -> Nullable<Text>,
        min_bound -> Nullable<Text>,
        max_bound -> Nullable<Text>,
        placeholder -> Nullable<Text>,
        next_step -> Nullable<Text>,
        back_allowed -> Bool,
    }
}

diesel::table! {
    translations (version_id, scene_key, choice_key, locale, field) {
        version_id -> Text,
        scene_key -> Text,
        choice_key -> Text,
        locale -> Text,
        field -> Text,
        body -> Text,
    }
}

diesel::table! {
    scene_messages (version_id, scene_key, position) {
        version_id -> Text,
        scene_key -> Text,
        position -> Integer,
        body -> Text,
    }
}

diesel::table! {
    choices (version_id, scene_key, key) {
        version_id -> Text,
        scene_key -> Text,
        key -> Text,
        position -> Integer,
        sheet_row -> Integer,
        label -> Text,
        value -> Text,
        next_step -> Nullable<Text>,
    }
}

diesel::table! {
    channels (name) {
        name -> Text,
        version_id -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    admin_tokens (token_hash) {
        token_hash -> Text,
        name -> Text,
        role -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        created_at -> Timestamp,
        actor -> Text,
        action -> Text,
        version_from -> Nullable<Text>,
        version_to -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    testers (user_id) {
        user_id -> Text,
        added_by -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    runs (id) {
        id -> Text,
        user_id -> Text,
        channel -> Text,
        version_id -> Text,
        status -> Text,
        step_key -> Nullable<Text>,
        scene_key -> Nullable<Text>,
        scene_id -> Nullable<Text>,
        shown -> Integer,
        answered -> Integer,
        attributes -> Text,
        answers -> Text,
        revision -> BigInt,
        started_at -> Timestamp,
        updated_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        previous_answer -> Nullable<Text>,
    }
}

diesel::table! {
    run_backs (run_id, scene_id) {
        run_id -> Text,
        scene_id -> Text,
        from_step -> Text,
        to_step -> Text,
        to_scene -> Text,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    run_answers (run_id, scene_id) {
        run_id -> Text,
        scene_id -> Text,
        step_key -> Text,
        scene_key -> Text,
        answer -> Text,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    assignments (user_id, step_key, condition_name) {
        user_id -> Text,
        step_key -> Text,
        condition_name -> Text,
        scene_key -> Text,
        source -> Text,
        assigned_at -> Timestamp,
        exposed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        kind -> Text,
        occurred_at -> Timestamp,
        user_id -> Text,
        run_id -> Text,
        version_id -> Text,
        channel -> Text,
        step_key -> Nullable<Text>,
        scene_key -> Nullable<Text>,
        experiment_id -> Nullable<Text>,
        variation_id -> Nullable<Text>,
        offline -> Bool,
    }
}

diesel::table! {
    offline_syncs (user_id, sync_id) {
        user_id -> Text,
        sync_id -> Text,
        request_sha256 -> Text,
        outcome -> Text,
        run_id -> Text,
        replaced_run -> Nullable<Text>,
        version_id -> Text,
        channel -> Text,
        answered -> Integer,
        started_at -> Timestamp,
        synced_at -> Timestamp,
        response -> Text,
    }
}

diesel::table! {
    rollouts (id) {
        id -> BigInt,
        channel -> Text,
        version_id -> Text,
        previous_id -> Text,
        percent -> Double,
        state -> Text,
        started_at -> Timestamp,
        started_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
        ended_at -> Nullable<Timestamp>,
        guardrails -> Text,
        checked_at -> Nullable<Timestamp>,
    }
}
diesel::table! {
    incidents (id) {
        id -> BigInt,
        kind -> Text,
        occurred_at -> Timestamp,
        actor -> Text,
        channel -> Text,
        version_id -> Text,
        to_version -> Text,
        guardrail -> Nullable<Text>,
        details -> Text,
    }
}
diesel::allow_tables_to_appear_in_same_query!(
    rollouts,
    incidents,
    offline_syncs,
    versions,
    steps,
    scenes,
    scene_messages,
    translations,
    choices,
    channels,
    admin_tokens,
    audit_log,
    testers,
    runs,
    run_answers,
    run_backs,
    assignments,
    events,
    approvals,
    channel_history,
    users,
    sessions,
    overrides
);

diesel::table! {
    approvals (version_id) {
        version_id -> Text,
        approved_by -> Text,
        approved_at -> Timestamp,
    }
}

diesel::table! {
    channel_history (id) {
        id -> BigInt,
        channel -> Text,
        version_id -> Text,
        set_by -> Text,
        set_at -> Timestamp,
        undone_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    users (name) {
        name -> Text,
        role -> Text,
        password_hash -> Text,
        failed_logins -> Integer,
        last_failure_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_name -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(sessions -> users (user_name));

diesel::table! {
    overrides (user_id) {
        user_id -> Text,
        attributes -> Text,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}
diesel::allow_columns_to_appear_in_same_group_by_clause!(runs::version_id, run_answers::step_key);
