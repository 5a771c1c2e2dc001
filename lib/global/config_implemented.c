/* config_implemented - the parameters we honour; see config_implemented.h.
 *
 * Grouped by the program that reads them. When you make a program read a
 * parameter, add it here (the ctest tools/check_config_implemented.py
 * insists); when you remove the last read, remove it.
 *
 * Parameters a program mentions without honouring them (read only to
 * refuse a setting, or never consulted in one mode) are listed, each with
 * its reason, in NOT_HONOURED of tools/check_config_implemented.py.
 */
#include "config_implemented.h"

#include <string.h>

/* clang-format off */
#define READ(n) {n, CONFIG_HONOUR_READ, NULL}
#define DYNAMIC(n) {n, CONFIG_HONOUR_DYNAMIC, NULL}
#define EXPANDED(n) {n, CONFIG_HONOUR_EXPANDED, NULL}
#define INERT(n) {n, CONFIG_HONOUR_INERT, NULL}
#define ONLY(n, v) {n, CONFIG_HONOUR_INERT, v}
/* Both the SMTP and the LMTP client (one program, smtp/) read it. */
#define SMTP_LMTP(n) READ("smtp_" n), READ("lmtp_" n)
/* clang-format on */

static const struct config_implemented table[] = {
    /* Every program: where things are, who runs them, logging, limits
     * (lib/global/config, lib/global/service, lib/util/msg, lib/global/queue_*). */
    READ("alternate_config_directories"),
    READ("command_directory"),
    READ("config_directory"),
    READ("daemon_directory"),
    READ("daemon_timeout"),
    READ("data_directory"),
    READ("defer_code"),
    READ("enable_long_queue_ids"),
    READ("hash_queue_depth"),
    READ("hash_queue_names"),
    READ("header_size_limit"),
    READ("invalid_hostname_reject_code"),
    READ("ipc_timeout"),
    READ("line_length_limit"),
    READ("mail_name"),
    READ("mail_owner"),
    READ("mail_version"),
    READ("maillog_file"),
    READ("maillog_file_compressor"),    /* postfix logrotate */
    READ("maillog_file_rotate_suffix"), /* postfix logrotate */
    READ("max_idle"),
    READ("max_use"),
    READ("message_size_limit"),
    READ("multi_instance_directories"), /* as alternate_config_directories */
    READ("mydomain"),
    READ("myhostname"),
    READ("process_id"),
    READ("process_name"),
    READ("queue_directory"),
    READ("queue_minfree"),
    READ("service_name"),
    READ("setgid_group"),
    READ("syslog_facility"),
    READ("syslog_name"),
    /* Building blocks of the defaults above and below: setting them changes
     * the honoured parameters that are built from them. */
    EXPANDED("compatibility_level"),
    EXPANDED("multi_instance_name"), /* syslog_name */
    EXPANDED("stress"),              /* ${stress?...} in smtpd and other timeouts */

    /* master */
    READ("default_process_limit"),
    READ("import_environment"),
    READ("inet_interfaces"),
    READ("inet_protocols"),
    READ("known_tcp_ports"),
    READ("service_throttle_time"),

    /* Address classes and routing (lib/global/resolve: cleanup, qmgr, smtpd). */
    READ("default_transport"),
    READ("local_transport"),
    READ("mydestination"),
    READ("mynetworks"),
    READ("mynetworks_style"),
    READ("myorigin"),
    READ("parent_domain_matches_subdomains"),
    READ("proxy_interfaces"),
    READ("relay_domains"),
    READ("relay_transport"),
    READ("relayhost"),
    READ("transport_maps"),
    READ("virtual_alias_domains"),
    READ("virtual_mailbox_domains"),
    READ("virtual_transport"),

    /* smtpd */
    READ("anvil_rate_time_unit"),
    READ("broken_sasl_auth_clients"),
    READ("cyrus_sasl_config_path"),
    READ("disable_vrfy_command"),
    READ("local_header_rewrite_clients"),
    READ("local_recipient_maps"),
    READ("non_fqdn_reject_code"),
    READ("default_rbl_reply"),
    READ("rbl_reply_maps"),
    READ("maps_rbl_reject_code"),
    READ("recipient_delimiter"),
    READ("relay_domains_reject_code"),
    READ("relay_recipient_maps"),
    READ("relocated_maps"),     /* at RCPT (smtpd_unlisted) and delivery (qmgr) */
    READ("virtual_alias_maps"), /* also cleanup (rewriting) */
    READ("virtual_mailbox_maps"),
    READ("smtpd_banner"),
    READ("smtpd_client_connection_count_limit"),
    READ("smtpd_client_connection_rate_limit"),
    READ("smtpd_client_event_limit_exceptions"),
    READ("smtpd_client_restrictions"), /* their restrictions: smtpd_restriction.h */
    READ("smtpd_enforce_tls"),
    READ("access_map_defer_code"), /* smtpd access tables */
    READ("access_map_reject_code"),
    READ("smtpd_data_restrictions"),
    READ("smtpd_end_of_data_restrictions"),
    READ("smtpd_delay_reject"),
    READ("smtpd_error_sleep_time"),
    READ("smtpd_forbid_bare_newline"),
    READ("smtpd_forbid_bare_newline_reject_code"),
    READ("smtpd_forbid_unauth_pipelining"),
    READ("smtpd_forbidden_commands"),
    READ("smtpd_hard_error_limit"),
    READ("smtpd_helo_required"),
    READ("smtpd_helo_restrictions"),
    READ("smtpd_junk_command_limit"),
    READ("smtpd_min_data_rate"),
    READ("smtpd_null_access_lookup_key"),
    READ("smtpd_peername_lookup"),
    READ("smtpd_per_request_deadline"),
    READ("smtpd_policy_service_default_action"), /* check_policy_service: smtpd_policy.c */
    READ("smtpd_policy_service_max_idle"),
    READ("smtpd_policy_service_max_ttl"),
    READ("smtpd_policy_service_policy_context"),
    READ("smtpd_policy_service_request_limit"),
    READ("smtpd_policy_service_retry_delay"),
    READ("smtpd_policy_service_timeout"),
    READ("smtpd_policy_service_try_limit"),
    READ("smtpd_pregreet_wait"), /* our extension */
    READ("smtpd_recipient_limit"),
    READ("smtpd_recipient_overshoot_limit"),
    READ("smtpd_recipient_restrictions"),
    READ("smtpd_reject_unlisted_recipient"),
    READ("smtpd_restriction_classes"),
    READ("smtpd_relay_restrictions"),
    READ("smtpd_sasl_auth_enable"),
    READ("smtpd_sasl_authenticated_header"),
    READ("smtpd_sasl_local_domain"),
    READ("smtpd_sasl_mechanism_filter"),
    READ("smtpd_sasl_path"),
    READ("smtpd_sasl_response_limit"),
    READ("smtpd_sasl_security_options"),
    READ("smtpd_sasl_service"),
    READ("smtpd_sasl_tls_security_options"),
    READ("smtpd_sasl_type"),
    READ("smtpd_sender_login_maps"),
    READ("smtpd_sender_restrictions"),
    READ("smtpd_soft_error_limit"),
    READ("smtpd_starttls_timeout"),
    READ("smtpd_timeout"),
    READ("smtpd_tls_auth_only"),
    READ("smtpd_tls_cert_file"),
    READ("smtpd_tls_chain_files"),
    READ("smtpd_tls_ciphers"),
    READ("smtpd_tls_exclude_ciphers"),
    READ("smtpd_tls_key_file"),
    READ("smtpd_tls_loglevel"),
    READ("smtpd_tls_mandatory_ciphers"),
    READ("smtpd_tls_mandatory_exclude_ciphers"),
    READ("smtpd_tls_mandatory_protocols"),
    READ("smtpd_tls_protocols"),
    READ("smtpd_tls_received_header"),
    READ("smtpd_tls_security_level"),
    READ("smtpd_tls_session_cache_timeout"), /* lifetime of the session tickets */
    READ("smtpd_tls_wrappermode"),
    READ("smtpd_use_tls"),
    READ("smtputf8_enable"),
    READ("strict_rfc821_envelopes"),
    READ("tls_preempt_cipherlist"),
    READ("unknown_local_recipient_reject_code"),
    READ("unknown_relay_recipient_reject_code"),
    READ("unknown_virtual_alias_reject_code"),
    READ("unknown_virtual_mailbox_reject_code"),
    READ("unknown_address_reject_code"),
    READ("unknown_address_tempfail_action"),
    READ("unknown_helo_hostname_tempfail_action"),
    EXPANDED("reject_tempfail_action"), /* their default */
    READ("unknown_client_reject_code"),
    READ("unknown_hostname_reject_code"),
    /* lib/global/tls: tls_<grade>_cipherlist for the grade a *_ciphers names. */
    DYNAMIC("tls_export_cipherlist"),
    DYNAMIC("tls_high_cipherlist"),
    DYNAMIC("tls_low_cipherlist"),
    DYNAMIC("tls_medium_cipherlist"),
    DYNAMIC("tls_null_cipherlist"),

    /* virtual(8) */
    READ("virtual_gid_maps"),
    READ("virtual_mailbox_base"),
    READ("virtual_mailbox_limit"),
    READ("virtual_mailbox_lock"),
    READ("virtual_minimum_uid"),
    READ("virtual_uid_maps"),

    /* cleanup */
    READ("always_add_missing_headers"),
    READ("body_checks"),
    READ("body_checks_size_limit"),
    READ("header_checks"),
    READ("mime_header_checks"),
    READ("nested_header_checks"),
    READ("mime_nesting_limit"), /* cleanup_mime: how deep content checks follow */
    READ("receive_override_options"),
    READ("duplicate_filter_limit"),
    /* smtpd and pickup pass it to cleanup (lib/global/content_filter). */
    READ("content_filter"),
    READ("always_bcc"),
    READ("canonical_classes"),
    READ("canonical_maps"),
    READ("masquerade_classes"),
    READ("masquerade_domains"),
    READ("masquerade_exceptions"),
    READ("propagate_unmatched_extensions"),
    READ("recipient_bcc_maps"),
    READ("recipient_canonical_classes"),
    READ("recipient_canonical_maps"),
    READ("sender_bcc_maps"),
    READ("sender_canonical_classes"),
    READ("sender_canonical_maps"),
    READ("virtual_alias_expansion_limit"),
    READ("virtual_alias_recursion_limit"),
    SMTP_LMTP("generic_maps"),

    /* Milters (lib/global/milter: smtpd_milters in smtpd, non_smtpd_milters
     * in cleanup). */
    READ("milter_command_timeout"),
    READ("milter_connect_macros"),
    READ("milter_connect_timeout"),
    READ("milter_content_timeout"),
    READ("milter_data_macros"),
    READ("milter_default_action"),
    READ("milter_end_of_data_macros"),
    READ("milter_end_of_header_macros"),
    READ("milter_helo_macros"),
    READ("milter_macro_daemon_name"),
    READ("milter_macro_v"),
    READ("milter_mail_macros"),
    READ("milter_protocol"),
    READ("milter_rcpt_macros"),
    READ("milter_unknown_command_macros"),
    READ("non_smtpd_milters"),
    READ("smtpd_milters"),
    /* qmgr */
    READ("2bounce_notice_recipient"),
    READ("bounce_notice_recipient"),
    READ("bounce_queue_lifetime"),
    READ("default_destination_concurrency_failed_cohort_limit"),
    READ("default_destination_concurrency_limit"),
    READ("default_destination_concurrency_negative_feedback"),
    READ("default_destination_concurrency_positive_feedback"),
    READ("default_destination_rate_delay"),
    READ("default_destination_recipient_limit"),
    READ("default_filter_nexthop"),
    READ("delay_warning_time"),
    READ("destination_concurrency_feedback_debug"),
    READ("double_bounce_sender"),
    READ("initial_destination_concurrency"),
    READ("maximal_backoff_time"),
    READ("maximal_queue_lifetime"),
    READ("minimal_backoff_time"),
    READ("qmgr_message_active_limit"),
    READ("queue_run_delay"),
    READ("transport_retry_time"),
    /* qmgr reads <transport>_<suffix> for every transport it schedules. */
    DYNAMIC("local_destination_batch_limit"), /* our extension; local(8) too */
    DYNAMIC("local_destination_concurrency_limit"),
    DYNAMIC("local_destination_recipient_limit"),
    DYNAMIC("*_destination_concurrency_failed_cohort_limit"),
    DYNAMIC("*_destination_concurrency_limit"),
    DYNAMIC("*_destination_concurrency_negative_feedback"),
    DYNAMIC("*_destination_concurrency_positive_feedback"),
    DYNAMIC("*_destination_rate_delay"),
    DYNAMIC("*_destination_recipient_limit"),
    DYNAMIC("*_initial_destination_concurrency"),

    /* pipe (also command_time_limit, recipient_delimiter below) */
    READ("allow_min_user"), /* qmgr: '-' recipients go to error:5.1.3 */
    READ("export_environment"),
    DYNAMIC("*_time_limit"), /* <transport>_time_limit of each pipe service */

    /* local */
    READ("alias_maps"),
    READ("allow_mail_to_commands"),
    READ("allow_mail_to_files"),
    READ("command_execution_directory"),
    READ("command_expansion_filter"),
    READ("command_time_limit"),
    READ("default_privs"),
    READ("enable_original_recipient"),
    READ("execution_directory_expansion_filter"),
    READ("forward_expansion_filter"),
    READ("forward_path"),
    READ("home_mailbox"),
    READ("mail_spool_directory"),
    READ("mailbox_command"),
    READ("mailbox_delivery_lock"),
    READ("mailbox_size_limit"),
    READ("mailbox_transport"),

    /* smtp and lmtp (one program; the LMTP client reads lmtp_*). */
    READ("disable_dns_lookups"),
    READ("disable_mime_output_conversion"),
    READ("smtp_fallback_relay"),
    READ("smtp_helo_name"),
    READ("smtp_helo_timeout"),
    READ("smtp_sender_dependent_authentication"),
    READ("lmtp_lhlo_name"),
    READ("lmtp_lhlo_timeout"),
    SMTP_LMTP("connect_timeout"),
    /* qmgr batches for the agent under cache_on_demand; the agent reuses
     * one connection for the batch within the reuse limits. */
    SMTP_LMTP("connection_cache_on_demand"),
    SMTP_LMTP("connection_reuse_count_limit"),
    SMTP_LMTP("connection_reuse_time_limit"),
    SMTP_LMTP("data_done_timeout"),
    SMTP_LMTP("data_init_timeout"),
    SMTP_LMTP("data_xfer_timeout"),
    SMTP_LMTP("enforce_tls"),
    SMTP_LMTP("host_lookup"),
    SMTP_LMTP("mail_timeout"),
    SMTP_LMTP("mx_address_limit"),
    SMTP_LMTP("quit_timeout"),
    SMTP_LMTP("rcpt_timeout"),
    SMTP_LMTP("sasl_auth_enable"),
    SMTP_LMTP("sasl_auth_soft_bounce"),
    SMTP_LMTP("sasl_mechanism_filter"),
    SMTP_LMTP("sasl_password_maps"),
    SMTP_LMTP("sasl_security_options"),
    SMTP_LMTP("sasl_tls_security_options"),
    SMTP_LMTP("sasl_tls_verified_security_options"),
    SMTP_LMTP("sasl_type"),
    SMTP_LMTP("send_dummy_mail_auth"),
    SMTP_LMTP("starttls_timeout"),
    SMTP_LMTP("tls_CAfile"),
    SMTP_LMTP("tls_CApath"),
    SMTP_LMTP("tls_ciphers"),
    SMTP_LMTP("tls_exclude_ciphers"),
    SMTP_LMTP("tls_protocols"),
    SMTP_LMTP("tls_security_level"),
    SMTP_LMTP("tls_servername"),
    SMTP_LMTP("tls_session_cache_database"), /* kept by tlsmgr; Debian sets it */
    SMTP_LMTP("tls_session_cache_timeout"),
    SMTP_LMTP("use_tls"),
    /* Verified outbound TLS and DANE (smtp/smtp_tls.c, smtp/smtp_dns.c). */
    SMTP_LMTP("dns_support_level"),
    SMTP_LMTP("tls_fingerprint_cert_match"),
    SMTP_LMTP("tls_fingerprint_digest"),
    SMTP_LMTP("tls_mandatory_ciphers"),
    SMTP_LMTP("tls_mandatory_exclude_ciphers"),
    SMTP_LMTP("tls_mandatory_protocols"),
    SMTP_LMTP("tls_policy_maps"),
    SMTP_LMTP("tls_enforce_peername"), /* the legacy *_enforce_tls mapping */
    SMTP_LMTP("tls_secure_cert_match"),
    SMTP_LMTP("tls_trust_anchor_file"),
    SMTP_LMTP("tls_verify_cert_match"),

    /* postmap, postalias, newaliases */
    READ("alias_database"),
    READ("default_database_type"),

    /* Installation paths that only Postfix's install and upgrade scripts
     * use; no Postfix daemon reads them either. */
    INERT("html_directory"),
    INERT("mailq_path"),
    INERT("manpage_directory"),
    INERT("meta_directory"), /* dynamicmaps.cf: our table types are built in, an
                              * unknown type fails where it is used */
    INERT("newaliases_path"),
    INERT("readme_directory"),
    INERT("sample_directory"),
    INERT("sendmail_path"),
    INERT("shlib_directory"),
    /* Used by Postfix only for a daemon started with -D (debugger_command)
     * or for a client in debug_peer_list (debug_peer_level); our daemons
     * refuse -D and debug_peer_list is not implemented (warned about). */
    INERT("debug_peer_level"),
    INERT("debugger_command"),
    /* Our fixed behaviour is one value of these: local(8) never notifies
     * the comsat service, addresses never get ".$mydomain" appended. */
    ONLY("append_dot_mydomain", "no"),
    ONLY("biff", "no"),
};

const struct config_implemented *config_implemented_table(size_t *count)
{
    *count = sizeof(table) / sizeof(table[0]);
    return table;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls > lx && strcmp(s + ls - lx, suffix) == 0;
}

const struct config_implemented *config_implemented_find(const char *name, bool service_defined)
{
    /* Linear: ~250 entries, consulted once per parameter set in main.cf or
     * master.cf by postfix check and master (re)start. */
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct config_implemented *e = &table[i];
        if (e->name[0] == '*' ? service_defined && ends_with(name, e->name + 1)
                              : strcmp(name, e->name) == 0)
            return e;
    }
    return NULL;
}
