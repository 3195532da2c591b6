/*
 * libmbim_bench: time libmbim (libmbim-glib) decoding and encoding the same
 * MBIM messages that wwan's BenchmarkDecode / BenchmarkEncode use, so the two
 * codecs can be compared side by side (see libmbim-compare.sh).
 *
 * Only libmbim's public API is called. Output is in Go benchmark format, one
 * line per run, so the same parser (hack/bench/compare) reads both sides:
 *
 *   BenchmarkDecode/<vector name>-1  <iterations>  <ns> ns/op
 *
 * The "-1" suffix says the loop runs on one thread. Lines starting with '#'
 * are comments (environment, skipped cases).
 *
 * What is timed, per operation:
 *
 *   Decode: what a client does when a message arrives from the modem:
 *     mbim_message_new (copies the bytes into a new MbimMessage)
 *     + mbim_message_validate
 *     + the typed *_response_parse for the CID, asking for every field, so
 *       libmbim decodes all of them (strings are converted to UTF-8, arrays
 *       are allocated)
 *     + freeing every output + mbim_message_unref.
 *
 *   Encode: what a client does to build a request before sending it:
 *     the typed *_set_new builder with the vector's field values
 *     + mbim_message_set_transaction_id (1, as in the vectors)
 *     + mbim_message_get_raw (the bytes that would be written)
 *     + mbim_message_unref.
 *     Plain C input structs (providers, filters, event entries) are set up
 *     once, outside the loop, as a caller would already have them. Unnamed
 *     TLV IEs are created inside the loop (mbim_tlv_string_new converts UTF-8
 *     to UTF-16), because that conversion is part of encoding those fields.
 *
 * Before timing, each case runs once and is checked: a decode must succeed;
 * an encode must produce exactly the vector's bytes (transaction id set to 1,
 * the whole message compared). A failure exits non-zero. A case whose libmbim
 * function is missing from the installed version is printed as
 * "# skipped <name>: <reason>" instead.
 *
 * Each case is calibrated to about -benchtime milliseconds (default 200) per
 * run, and then run -count times (default 5), one output line per run, so
 * the reader can take the median.
 *
 * Built with -DLIBMBIM_BENCH_COUNT_ALLOCS, the program instead counts heap
 * allocations (malloc, calloc, realloc) per operation and prints
 * "<n> allocs/op" lines. It interposes malloc and re-executes itself with
 * G_SLICE=always-malloc so GLib's slice allocator (GList, GError, GArray
 * headers) goes through malloc too. That build is never used for timing.
 *
 * Usage: libmbim_bench VECTORS [-benchtime MS] [-count N] [-check]
 *   VECTORS is the "name hex" file printed by hack/bench/extract.
 *   -check only verifies the cases, without timing them.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <libmbim-glib.h>

/*****************************************************************************/
/* Allocation counting (separate build only) */

#ifdef LIBMBIM_BENCH_COUNT_ALLOCS
extern void *__libc_malloc (size_t size);
extern void *__libc_calloc (size_t n, size_t size);
extern void *__libc_realloc (void *ptr, size_t size);
extern void  __libc_free (void *ptr);

static unsigned long long alloc_count;

void *malloc (size_t size)              { alloc_count++; return __libc_malloc (size); }
void *calloc (size_t n, size_t size)    { alloc_count++; return __libc_calloc (n, size); }
void *realloc (void *ptr, size_t size)  { alloc_count++; return __libc_realloc (ptr, size); }
void  free (void *ptr)                  { __libc_free (ptr); }
#endif

/*****************************************************************************/
/* Vectors: "name hex" lines, parsed once at start-up */

typedef struct {
    char   *name;
    guint8 *data;
    guint32 len;
} Vector;

static Vector *vectors;
static guint   n_vectors;

static int
hex_nibble (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void
load_vectors (const char *path)
{
    FILE   *f;
    char   *line = NULL;
    size_t  cap = 0;
    ssize_t n;
    guint   lineno = 0;

    f = fopen (path, "r");
    if (!f) {
        fprintf (stderr, "libmbim_bench: %s: %s\n", path, strerror (errno));
        exit (2);
    }
    while ((n = getline (&line, &cap, f)) >= 0) {
        char  *sp, *hex;
        size_t hex_len, i;

        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        sp = strchr (line, ' ');
        hex = sp ? sp + 1 : NULL;
        hex_len = hex ? strlen (hex) : 0;
        if (!sp || hex_len == 0 || hex_len % 2 != 0) {
            fprintf (stderr, "libmbim_bench: %s:%u: want \"name hex\"\n", path, lineno);
            exit (2);
        }
        *sp = '\0';
        vectors = g_renew (Vector, vectors, n_vectors + 1);
        vectors[n_vectors].name = g_strdup (line);
        vectors[n_vectors].len = (guint32) (hex_len / 2);
        vectors[n_vectors].data = g_malloc (hex_len / 2);
        for (i = 0; i < hex_len / 2; i++) {
            int hi = hex_nibble (hex[2 * i]);
            int lo = hex_nibble (hex[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                fprintf (stderr, "libmbim_bench: %s:%u: bad hex\n", path, lineno);
                exit (2);
            }
            vectors[n_vectors].data[i] = (guint8) (hi << 4 | lo);
        }
        n_vectors++;
    }
    free (line);
    fclose (f);
}

static const Vector *
find_vector (const char *name)
{
    guint i;

    for (i = 0; i < n_vectors; i++)
        if (strcmp (vectors[i].name, name) == 0)
            return &vectors[i];
    return NULL;
}

/*****************************************************************************/
/* Decode cases: parse every field of the response, then free the outputs */

static gboolean
parse_device_caps (const MbimMessage *msg, GError **error)
{
    MbimDeviceType    device_type;
    MbimCellularClass cellular_class;
    MbimVoiceClass    voice_class;
    MbimSimClass      sim_class;
    MbimDataClass     data_class;
    MbimSmsCaps       sms_caps;
    MbimCtrlCaps      control_caps;
    guint32           max_sessions;
    gchar            *custom_data_class = NULL;
    gchar            *device_id = NULL;
    gchar            *firmware_info = NULL;
    gchar            *hardware_info = NULL;
    gboolean          ok;

    ok = mbim_message_device_caps_response_parse (
        msg, &device_type, &cellular_class, &voice_class, &sim_class, &data_class,
        &sms_caps, &control_caps, &max_sessions, &custom_data_class, &device_id,
        &firmware_info, &hardware_info, error);
    g_free (custom_data_class);
    g_free (device_id);
    g_free (firmware_info);
    g_free (hardware_info);
    return ok;
}

static gboolean
parse_subscriber_ready_status (const MbimMessage *msg, GError **error)
{
    MbimSubscriberReadyState ready_state;
    gchar                   *subscriber_id = NULL;
    gchar                   *sim_iccid = NULL;
    MbimReadyInfoFlag        ready_info;
    guint32                  telephone_numbers_count;
    gchar                  **telephone_numbers = NULL;
    gboolean                 ok;

    ok = mbim_message_subscriber_ready_status_response_parse (
        msg, &ready_state, &subscriber_id, &sim_iccid, &ready_info,
        &telephone_numbers_count, &telephone_numbers, error);
    g_free (subscriber_id);
    g_free (sim_iccid);
    g_strfreev (telephone_numbers);
    return ok;
}

static gboolean
parse_register_state (const MbimMessage *msg, GError **error)
{
    MbimNwError          nw_error;
    MbimRegisterState    register_state;
    MbimRegisterMode     register_mode;
    MbimDataClass        available_data_classes;
    MbimCellularClass    current_cellular_class;
    gchar               *provider_id = NULL;
    gchar               *provider_name = NULL;
    gchar               *roaming_text = NULL;
    MbimRegistrationFlag registration_flag;
    gboolean             ok;

    ok = mbim_message_register_state_response_parse (
        msg, &nw_error, &register_state, &register_mode, &available_data_classes,
        &current_cellular_class, &provider_id, &provider_name, &roaming_text,
        &registration_flag, error);
    g_free (provider_id);
    g_free (provider_name);
    g_free (roaming_text);
    return ok;
}

static gboolean
parse_ip_configuration (const MbimMessage *msg, GError **error)
{
    guint32                          session_id;
    MbimIPConfigurationAvailableFlag ipv4_available;
    MbimIPConfigurationAvailableFlag ipv6_available;
    guint32                          ipv4_address_count;
    MbimIPv4ElementArray            *ipv4_address = NULL;
    guint32                          ipv6_address_count;
    MbimIPv6ElementArray            *ipv6_address = NULL;
    const MbimIPv4                  *ipv4_gateway; /* points into the message */
    const MbimIPv6                  *ipv6_gateway; /* points into the message */
    guint32                          ipv4_dns_server_count;
    MbimIPv4                        *ipv4_dns_server = NULL;
    guint32                          ipv6_dns_server_count;
    MbimIPv6                        *ipv6_dns_server = NULL;
    guint32                          ipv4_mtu;
    guint32                          ipv6_mtu;
    gboolean                         ok;

    ok = mbim_message_ip_configuration_response_parse (
        msg, &session_id, &ipv4_available, &ipv6_available,
        &ipv4_address_count, &ipv4_address, &ipv6_address_count, &ipv6_address,
        &ipv4_gateway, &ipv6_gateway, &ipv4_dns_server_count, &ipv4_dns_server,
        &ipv6_dns_server_count, &ipv6_dns_server, &ipv4_mtu, &ipv6_mtu, error);
    if (ipv4_address)
        mbim_ipv4_element_array_free (ipv4_address);
    if (ipv6_address)
        mbim_ipv6_element_array_free (ipv6_address);
    g_free (ipv4_dns_server);
    g_free (ipv6_dns_server);
    return ok;
}

static gboolean
parse_visible_providers (const MbimMessage *msg, GError **error)
{
    guint32            providers_count;
    MbimProviderArray *providers = NULL;
    gboolean           ok;

    ok = mbim_message_visible_providers_response_parse (msg, &providers_count, &providers, error);
    if (providers)
        mbim_provider_array_free (providers);
    return ok;
}

static void
free_tlv_list (GList *tlvs)
{
    g_list_free_full (tlvs, (GDestroyNotify) mbim_tlv_unref);
}

static gboolean
parse_ms_basic_connect_v3_connect (const MbimMessage *msg, GError **error)
{
    guint32             session_id;
    MbimActivationState activation_state;
    MbimVoiceCallState  voice_call_state;
    MbimContextIpType   ip_type;
    const MbimUuid     *context_type; /* points into the message */
    guint32             nw_error;
    MbimAccessMediaType media_preference;
    gchar              *access_string = NULL;
    GList              *unnamed_ies = NULL;
    gboolean            ok;

    ok = mbim_message_ms_basic_connect_v3_connect_response_parse (
        msg, &session_id, &activation_state, &voice_call_state, &ip_type,
        &context_type, &nw_error, &media_preference, &access_string,
        &unnamed_ies, error);
    g_free (access_string);
    free_tlv_list (unnamed_ies);
    return ok;
}

static gboolean
parse_ms_basic_connect_extensions_v3_device_caps (const MbimMessage *msg, GError **error)
{
    MbimDeviceType    device_type;
    MbimCellularClass cellular_class;
    MbimVoiceClass    voice_class;
    MbimSimClass      sim_class;
    MbimDataClassV3   data_class;
    MbimSmsCaps       sms_caps;
    MbimCtrlCaps      control_caps;
    MbimDataSubclass  data_subclass;
    guint32           max_sessions;
    guint32           executor_index;
    guint32           wcdma_band_class;
    guint32           lte_band_class_count;
    guint16          *lte_band_class = NULL;
    guint32           nr_band_class_count;
    guint16          *nr_band_class = NULL;
    gchar            *custom_data_class = NULL;
    gchar            *device_id = NULL;
    gchar            *firmware_info = NULL;
    gchar            *hardware_info = NULL;
    gboolean          ok;

    ok = mbim_message_ms_basic_connect_extensions_v3_device_caps_response_parse (
        msg, &device_type, &cellular_class, &voice_class, &sim_class, &data_class,
        &sms_caps, &control_caps, &data_subclass, &max_sessions, &executor_index,
        &wcdma_band_class, &lte_band_class_count, &lte_band_class,
        &nr_band_class_count, &nr_band_class, &custom_data_class, &device_id,
        &firmware_info, &hardware_info, error);
    g_free (lte_band_class);
    g_free (nr_band_class);
    g_free (custom_data_class);
    g_free (device_id);
    g_free (firmware_info);
    g_free (hardware_info);
    return ok;
}

static gboolean
parse_ip_packet_filters (const MbimMessage *msg, GError **error)
{
    guint32                session_id;
    guint32                packet_filters_count;
    MbimPacketFilterArray *packet_filters = NULL;
    gboolean               ok;

    ok = mbim_message_ip_packet_filters_response_parse (
        msg, &session_id, &packet_filters_count, &packet_filters, error);
    if (packet_filters)
        mbim_packet_filter_array_free (packet_filters);
    return ok;
}

static gboolean
parse_sms_read (const MbimMessage *msg, GError **error)
{
    MbimSmsFormat               format;
    guint32                     messages_count;
    MbimSmsPduReadRecordArray  *pdu_messages = NULL;
    MbimSmsCdmaReadRecordArray *cdma_messages = NULL;
    gboolean                    ok;

    ok = mbim_message_sms_read_response_parse (
        msg, &format, &messages_count, &pdu_messages, &cdma_messages, error);
    if (pdu_messages)
        mbim_sms_pdu_read_record_array_free (pdu_messages);
    if (cdma_messages)
        mbim_sms_cdma_read_record_array_free (cdma_messages);
    return ok;
}

static gboolean
parse_base_stations_info (const MbimMessage *msg, GError **error)
{
    MbimDataClass                        system_type;
    MbimCellInfoServingGsm              *gsm_serving = NULL;
    MbimCellInfoServingUmts             *umts_serving = NULL;
    MbimCellInfoServingTdscdma          *tdscdma_serving = NULL;
    MbimCellInfoServingLte              *lte_serving = NULL;
    guint32                              gsm_neighbors_count;
    MbimCellInfoNeighboringGsmArray     *gsm_neighbors = NULL;
    guint32                              umts_neighbors_count;
    MbimCellInfoNeighboringUmtsArray    *umts_neighbors = NULL;
    guint32                              tdscdma_neighbors_count;
    MbimCellInfoNeighboringTdscdmaArray *tdscdma_neighbors = NULL;
    guint32                              lte_neighbors_count;
    MbimCellInfoNeighboringLteArray     *lte_neighbors = NULL;
    guint32                              cdma_cells_count;
    MbimCellInfoCdmaArray               *cdma_cells = NULL;
    gboolean                             ok;

    ok = mbim_message_ms_basic_connect_extensions_base_stations_info_response_parse (
        msg, &system_type, &gsm_serving, &umts_serving, &tdscdma_serving,
        &lte_serving, &gsm_neighbors_count, &gsm_neighbors,
        &umts_neighbors_count, &umts_neighbors, &tdscdma_neighbors_count,
        &tdscdma_neighbors, &lte_neighbors_count, &lte_neighbors,
        &cdma_cells_count, &cdma_cells, error);
    if (gsm_serving)
        mbim_cell_info_serving_gsm_free (gsm_serving);
    if (umts_serving)
        mbim_cell_info_serving_umts_free (umts_serving);
    if (tdscdma_serving)
        mbim_cell_info_serving_tdscdma_free (tdscdma_serving);
    if (lte_serving)
        mbim_cell_info_serving_lte_free (lte_serving);
    if (gsm_neighbors)
        mbim_cell_info_neighboring_gsm_array_free (gsm_neighbors);
    if (umts_neighbors)
        mbim_cell_info_neighboring_umts_array_free (umts_neighbors);
    if (tdscdma_neighbors)
        mbim_cell_info_neighboring_tdscdma_array_free (tdscdma_neighbors);
    if (lte_neighbors)
        mbim_cell_info_neighboring_lte_array_free (lte_neighbors);
    if (cdma_cells)
        mbim_cell_info_cdma_array_free (cdma_cells);
    return ok;
}

static gboolean
parse_v3_registration_parameters (const MbimMessage *msg, GError **error)
{
    MbimMicoMode                 mico_mode;
    MbimDrxCycle                 drx_cycle;
    MbimLadnInfo                 ladn_info;
    MbimDefaultPduActivationHint pdu_hint;
    gboolean                     re_register_if_needed;
    GList                       *unnamed_ies = NULL;
    gboolean                     ok;

    ok = mbim_message_ms_basic_connect_extensions_v3_registration_parameters_response_parse (
        msg, &mico_mode, &drx_cycle, &ladn_info, &pdu_hint,
        &re_register_if_needed, &unnamed_ies, error);
    free_tlv_list (unnamed_ies);
    return ok;
}

/*****************************************************************************/
/* Encode cases: build the request with the vector's field values */

static MbimMessage *
build_connect_set (GError **error)
{
    return mbim_message_connect_set_new (
        1, MBIM_ACTIVATION_COMMAND_ACTIVATE, "internet", NULL, NULL,
        MBIM_COMPRESSION_NONE, MBIM_AUTH_PROTOCOL_PAP, MBIM_CONTEXT_IP_TYPE_IPV4,
        mbim_uuid_from_context_type (MBIM_CONTEXT_TYPE_INTERNET), error);
}

static MbimMessage *
build_pin_set (GError **error)
{
    return mbim_message_pin_set_new (MBIM_PIN_TYPE_PIN1, MBIM_PIN_OPERATION_ENTER,
                                     "1111", "", error);
}

/* Input structs for the list builders, filled in once by setup_inputs(). */
static guint32        basic_connect_cids[] = { MBIM_CID_BASIC_CONNECT_SIGNAL_STATE,
                                               MBIM_CID_BASIC_CONNECT_REGISTER_STATE };
static guint32        sms_cids[] = { MBIM_CID_SMS_READ };
static MbimEventEntry event_entries[2];
static const MbimEventEntry *event_list[2];

static guint8 filter1[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
static guint8 mask1[]   = { 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8 };
static guint8 filter2[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                            0x05, 0x06, 0x07, 0x08 };
static guint8 mask2[]   = { 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
                            0xf5, 0xf6, 0xf7, 0xf8 };
static const MbimPacketFilter packet_filters[2] = {
    { sizeof filter1, filter1, mask1 },
    { sizeof filter2, filter2, mask2 },
};
static const MbimPacketFilter *packet_filter_list[2] = {
    &packet_filters[0], &packet_filters[1],
};

static gchar provider_id[]   = "21403";
static gchar provider_name[] = "Orange";
static const MbimProvider providers[2] = {
    { provider_id, MBIM_PROVIDER_STATE_VISIBLE,
      provider_name, MBIM_CELLULAR_CLASS_GSM, 11, 0 },
    { provider_id, MBIM_PROVIDER_STATE_HOME | MBIM_PROVIDER_STATE_VISIBLE | MBIM_PROVIDER_STATE_REGISTERED,
      provider_name, MBIM_CELLULAR_CLASS_GSM, 11, 0 },
};
static const MbimProvider *provider_list[2] = { &providers[0], &providers[1] };

static const guint8 pco_data[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                   0x07, 0x08, 0x09, 0x0a, 0x0b };

static void
setup_inputs (void)
{
    memcpy (&event_entries[0].device_service_id, MBIM_UUID_BASIC_CONNECT, sizeof (MbimUuid));
    event_entries[0].cids_count = G_N_ELEMENTS (basic_connect_cids);
    event_entries[0].cids = basic_connect_cids;
    memcpy (&event_entries[1].device_service_id, MBIM_UUID_SMS, sizeof (MbimUuid));
    event_entries[1].cids_count = G_N_ELEMENTS (sms_cids);
    event_entries[1].cids = sms_cids;
    event_list[0] = &event_entries[0];
    event_list[1] = &event_entries[1];
}

static MbimMessage *
build_device_service_subscribe_list_set (GError **error)
{
    return mbim_message_device_service_subscribe_list_set_new (
        G_N_ELEMENTS (event_list), event_list, error);
}

static MbimMessage *
build_ip_packet_filters_set (GError **error)
{
    return mbim_message_ip_packet_filters_set_new (
        1, G_N_ELEMENTS (packet_filter_list), packet_filter_list, error);
}

static MbimMessage *
build_multicarrier_providers_set (GError **error)
{
    return mbim_message_multicarrier_providers_set_new (
        G_N_ELEMENTS (provider_list), provider_list, error);
}

static MbimMessage *
build_ms_basic_connect_v3_connect_set (GError **error)
{
    return mbim_message_ms_basic_connect_v3_connect_set_new (
        1, MBIM_ACTIVATION_COMMAND_ACTIVATE, MBIM_COMPRESSION_NONE,
        MBIM_AUTH_PROTOCOL_PAP, MBIM_CONTEXT_IP_TYPE_IPV4,
        mbim_uuid_from_context_type (MBIM_CONTEXT_TYPE_INTERNET),
        MBIM_ACCESS_MEDIA_TYPE_3GPP, "internet", "", "", NULL, error);
}

static MbimMessage *
build_v3_registration_parameters_set (GError **error)
{
    MbimMessage *msg;
    GList       *tlvs = NULL;
    MbimTlv     *tlv;

    /* Built in reverse and prepended: wire order is "abcde", "Orange", PCO. */
    tlvs = g_list_prepend (tlvs, mbim_tlv_new (MBIM_TLV_TYPE_PCO, pco_data, sizeof pco_data));
    if (!(tlv = mbim_tlv_string_new ("Orange", error)))
        goto out;
    tlvs = g_list_prepend (tlvs, tlv);
    if (!(tlv = mbim_tlv_string_new ("abcde", error)))
        goto out;
    tlvs = g_list_prepend (tlvs, tlv);

    msg = mbim_message_ms_basic_connect_extensions_v3_registration_parameters_set_new (
        MBIM_MICO_MODE_DISABLED, MBIM_DRX_CYCLE_NOT_SPECIFIED, MBIM_LADN_INFO_NOT_NEEDED,
        MBIM_DEFAULT_PDU_ACTIVATION_HINT_LIKELY, TRUE, tlvs, error);
    free_tlv_list (tlvs);
    return msg;
out:
    free_tlv_list (tlvs);
    return NULL;
}

/*****************************************************************************/
/* The cases, in table order */

typedef gboolean     (*DecodeFunc) (const MbimMessage *msg, GError **error);
typedef MbimMessage *(*EncodeFunc) (GError **error);

typedef struct {
    const char *name;   /* vector name = Go sub-benchmark name */
    DecodeFunc  decode; /* exactly one of decode / encode is set */
    EncodeFunc  encode;
} Case;

static const Case cases[] = {
    { "basic_connect_device_caps",                        parse_device_caps, NULL },
    { "basic_connect_subscriber_ready_status",            parse_subscriber_ready_status, NULL },
    { "basic_connect_register_state",                     parse_register_state, NULL },
    { "basic_connect_ip_configuration_v4",                parse_ip_configuration, NULL },
    { "basic_connect_ip_configuration_v4v6",              parse_ip_configuration, NULL },
    { "basic_connect_visible_providers",                  parse_visible_providers, NULL },
    { "ms_basic_connect_v3_connect_3_tlvs",               parse_ms_basic_connect_v3_connect, NULL },
    { "ms_basic_connect_v3_connect_0_tlvs",               parse_ms_basic_connect_v3_connect, NULL },
    { "ms_basic_connect_extensions_device_caps_v3",       parse_ms_basic_connect_extensions_v3_device_caps, NULL },
    { "basic_connect_ip_packet_filters_two",              parse_ip_packet_filters, NULL },
    { "sms_read_multiple_pdu",                            parse_sms_read, NULL },
    { "ms_basic_connect_extensions_base_stations_info",   parse_base_stations_info, NULL },
    { "ms_basic_connect_extensions_registration_parameters_3_tlvs", parse_v3_registration_parameters, NULL },

    { "basic_connect_connect_set",                        NULL, build_connect_set },
    { "basic_connect_pin_set",                            NULL, build_pin_set },
    { "basic_connect_device_service_subscribe_list_set",  NULL, build_device_service_subscribe_list_set },
    { "basic_connect_ip_packet_filters_set_two",          NULL, build_ip_packet_filters_set },
    { "basic_connect_multicarrier_providers_set",         NULL, build_multicarrier_providers_set },
    { "ms_basic_connect_v3_connect_set",                  NULL, build_ms_basic_connect_v3_connect_set },
    { "ms_basic_connect_extensions_registration_parameters_set_3_tlvs", NULL, build_v3_registration_parameters_set },
};

/*****************************************************************************/
/* One operation of each kind; these are what the loops time */

static inline gboolean
decode_op (const Vector *v, DecodeFunc parse, GError **error)
{
    MbimMessage *msg;
    gboolean     ok;

    msg = mbim_message_new (v->data, v->len);
    ok = mbim_message_validate (msg, error) && parse (msg, error);
    mbim_message_unref (msg);
    return ok;
}

/* Returns the built message (caller unrefs), or NULL with error set. */
static inline MbimMessage *
encode_op (EncodeFunc build, const guint8 **raw, guint32 *raw_len, GError **error)
{
    MbimMessage *msg;

    msg = build (error);
    if (!msg)
        return NULL;
    mbim_message_set_transaction_id (msg, 1);
    *raw = mbim_message_get_raw (msg, raw_len, error);
    if (!*raw) {
        mbim_message_unref (msg);
        return NULL;
    }
    return msg;
}

/* Runs n operations; any failure here is fatal (the case passed its check). */
static void
run_n (const Case *c, const Vector *v, guint64 n)
{
    guint64 i;

    for (i = 0; i < n; i++) {
        GError *error = NULL;

        if (c->decode) {
            if (G_UNLIKELY (!decode_op (v, c->decode, &error)))
                g_error ("%s: decode failed in loop: %s", c->name, error->message);
        } else {
            const guint8 *raw;
            guint32       raw_len;
            MbimMessage  *msg;

            msg = encode_op (c->encode, &raw, &raw_len, &error);
            if (G_UNLIKELY (!msg))
                g_error ("%s: encode failed in loop: %s", c->name, error->message);
            mbim_message_unref (msg);
        }
    }
}

/*****************************************************************************/
/* Checks, run once per case before timing */

static void
print_hex (const char *label, const guint8 *data, guint32 len)
{
    guint32 i;

    fprintf (stderr, "  %s (%u bytes): ", label, len);
    for (i = 0; i < len; i++)
        fprintf (stderr, "%02x", data[i]);
    fprintf (stderr, "\n");
}

/* Returns FALSE if the case must be skipped; exits on a real failure. */
static gboolean
check_case (const Case *c, const Vector *v)
{
    GError *error = NULL;

    if (c->decode) {
        if (!decode_op (v, c->decode, &error)) {
            fprintf (stderr, "libmbim_bench: %s: libmbim failed to decode the vector: %s\n",
                     c->name, error ? error->message : "(no error message)");
            exit (1);
        }
        return TRUE;
    } else {
        const guint8 *raw;
        guint32       raw_len;
        MbimMessage  *msg;

        msg = encode_op (c->encode, &raw, &raw_len, &error);
        if (!msg) {
            /* libmbim cannot build this message: skip rather than fail. */
            printf ("# skipped %s: libmbim %d.%d.%d cannot build it: %s\n", c->name,
                    MBIM_MAJOR_VERSION, MBIM_MINOR_VERSION, MBIM_MICRO_VERSION,
                    error ? error->message : "(no error message)");
            g_clear_error (&error);
            return FALSE;
        }
        if (raw_len != v->len || memcmp (raw, v->data, v->len) != 0) {
            fprintf (stderr, "libmbim_bench: %s: libmbim built different bytes from the vector\n", c->name);
            print_hex ("built ", raw, raw_len);
            print_hex ("vector", v->data, v->len);
            exit (1);
        }
        mbim_message_unref (msg);
        return TRUE;
    }
}

/*****************************************************************************/
/* Timing */

#ifndef LIBMBIM_BENCH_COUNT_ALLOCS
static guint64
now_ns (void)
{
    struct timespec ts;

    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (guint64) ts.tv_sec * 1000000000u + (guint64) ts.tv_nsec;
}

static guint64
time_n (const Case *c, const Vector *v, guint64 n)
{
    guint64 start = now_ns ();

    run_n (c, v, n);
    return now_ns () - start;
}

/* Finds an iteration count that takes about target_ns, growing n the way Go's
 * testing package does (predict from the last run, +20%, at most 100x). The
 * calibration runs double as warm-up. */
static guint64
calibrate (const Case *c, const Vector *v, guint64 target_ns)
{
    guint64 n = 1;
    guint64 elapsed = time_n (c, v, n);

    while (elapsed < target_ns) {
        guint64 next;

        if (elapsed == 0)
            next = n * 100;
        else
            next = (guint64) ((double) n * (double) target_ns / (double) elapsed * 1.2);
        if (next > n * 100)
            next = n * 100;
        if (next <= n)
            next = n + 1;
        n = next;
        elapsed = time_n (c, v, n);
    }
    return n;
}

static void
bench_case (const Case *c, const Vector *v, guint64 target_ns, guint count)
{
    const char *kind = c->decode ? "Decode" : "Encode";
    guint64     n;
    guint       i;

    n = calibrate (c, v, target_ns);
    for (i = 0; i < count; i++) {
        guint64 elapsed = time_n (c, v, n);

        printf ("Benchmark%s/%s-1\t%10" G_GUINT64_FORMAT "\t%12.1f ns/op\n",
                kind, c->name, n, (double) elapsed / (double) n);
        fflush (stdout);
    }
}

#else /* LIBMBIM_BENCH_COUNT_ALLOCS */

static void
count_case (const Case *c, const Vector *v)
{
    const guint64      n = 1000;
    unsigned long long before;

    run_n (c, v, 100); /* warm-up: one-time GType/quark registrations */
    before = alloc_count;
    run_n (c, v, n);
    printf ("Benchmark%s/%s-1\t%10" G_GUINT64_FORMAT "\t%g allocs/op\n",
            c->decode ? "Decode" : "Encode", c->name, n,
            (double) (alloc_count - before) / (double) n);
    fflush (stdout);
}
#endif

/*****************************************************************************/

static void
usage (void)
{
    fprintf (stderr, "usage: libmbim_bench VECTORS [-benchtime MS] [-count N] [-check]\n");
    exit (2);
}

int
main (int argc, char **argv)
{
    const char *vectors_path = NULL;
    guint64     benchtime_ms = 200;
    guint       count = 5;
    gboolean    check_only = FALSE;
    int         i;
    guint       k;

#ifdef LIBMBIM_BENCH_COUNT_ALLOCS
    /* GLib reads G_SLICE in its library constructors, before main(), so set
     * it and start again. */
    if (g_strcmp0 (getenv ("G_SLICE"), "always-malloc") != 0) {
        setenv ("G_SLICE", "always-malloc", 1);
        execv ("/proc/self/exe", argv);
        fprintf (stderr, "libmbim_bench: re-exec with G_SLICE=always-malloc: %s\n", strerror (errno));
        return 2;
    }
#endif

    for (i = 1; i < argc; i++) {
        if (strcmp (argv[i], "-benchtime") == 0 && i + 1 < argc)
            benchtime_ms = g_ascii_strtoull (argv[++i], NULL, 10);
        else if (strcmp (argv[i], "-count") == 0 && i + 1 < argc)
            count = (guint) g_ascii_strtoull (argv[++i], NULL, 10);
        else if (strcmp (argv[i], "-check") == 0)
            check_only = TRUE;
        else if (argv[i][0] == '-' || vectors_path)
            usage ();
        else
            vectors_path = argv[i];
    }
    if (!vectors_path || benchtime_ms == 0 || count == 0)
        usage ();

    load_vectors (vectors_path);
    setup_inputs ();

    printf ("# libmbim-glib %d.%d.%d, glib %u.%u.%u, single thread, %" G_GUINT64_FORMAT " ms per run\n",
            MBIM_MAJOR_VERSION, MBIM_MINOR_VERSION, MBIM_MICRO_VERSION,
            glib_major_version, glib_minor_version, glib_micro_version, benchtime_ms);

    for (k = 0; k < G_N_ELEMENTS (cases); k++) {
        const Case   *c = &cases[k];
        const Vector *v = find_vector (c->name);

        if (!v) {
            fprintf (stderr, "libmbim_bench: %s: no such vector in %s\n", c->name, vectors_path);
            return 1;
        }
        if (!check_case (c, v))
            continue;
        if (check_only) {
            printf ("# ok %s %s\n", c->decode ? "decode" : "encode", c->name);
            continue;
        }
#ifdef LIBMBIM_BENCH_COUNT_ALLOCS
        count_case (c, v);
#else
        bench_case (c, v, benchtime_ms * 1000000u, count);
#endif
    }
    return 0;
}
