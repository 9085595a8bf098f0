/* SPDX-License-Identifier: MIT */
/* The OpenAI-compatible backend: POST {endpoint}/v1/audio/transcriptions as multipart/form-data,
 * the audio part streamed from disk by libcurl (curl_mime_filedata reads the file while
 * sending). Works with OpenAI, whisper.cpp's server, speaches, LocalAI and vLLM; their quirks
 * that matter here (protocols.md §B.2):
 *   - every server gets "model" (whisper.cpp ignores it, the others need it);
 *   - error bodies come in four shapes ({"error":{…}}, {"error":"…"}, {"detail":…}, text);
 *   - LocalAI's text format starts with a newline: chunk texts are trimmed when stitched;
 *   - gpt-4o(-mini)-transcribe answer only json and take at most 1400 s per request;
 *   - the upload limit (25 MB at OpenAI and vLLM) is respected by splitting, with room left for
 *     the multipart framing. */
#include <cjson/cJSON.h>
#include <inttypes.h>

#include "common/json-util.h"
#include "common/macro.h"
#include "runner/audio.h"
#include "runner/backend.h"
#include "runner/http.h"

#define MULTIPART_OVERHEAD (16 * 1024)           /* the form's other fields and boundaries */
#define GPT4O_MAX_USEC     (1380 * USEC_PER_SEC) /* 1400 s, less a margin for rounding */

typedef struct OpenAI {
        BackendContext ctx;
        HttpClient http;
        char *url;
        const char *format;
        bool keyed;
} OpenAI;

char *openai_url(const char *endpoint)
{
        size_t n = strlen(endpoint);

        while (n > 0 && endpoint[n - 1] == '/')
                n--;
        if (n >= 3 && strneq(endpoint + n - 3, "/v1", 3))
                n -= 3;
        char *s;
        if (asprintf(&s, "%.*s/v1/audio/transcriptions", (int)n, endpoint) < 0)
                return NULL;
        return s;
}

static bool is_gpt4o(const char *model)
{
        return model && strneq(model, "gpt-4o", 6);
}

const char *openai_effective_format(const char *model, const char *format)
{
        if (is_gpt4o(model) || isempty(format))
                return "json";
        return format;
}

usec_t openai_model_max_usec(const char *model)
{
        return is_gpt4o(model) ? GPT4O_MAX_USEC : 0;
}

int openai_parse_response(
        const char *format, const char *body, size_t len, char **ret_text, BackendError *err)
{
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        const cJSON *text, *seg, *segs;
        char *s = NULL;
        size_t slen = 0;
        FILE *f;

        if (streq(format, "text")) {
                *ret_text = strndup(body, len);
                return *ret_text ? 0 : backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        j = cJSON_ParseWithLength(body, len);
        if (!cJSON_IsObject(j))
                return backend_fail(err, TRANSCRIBE_PERMANENT, -EPROTO,
                        "transcription: the server's answer is not the JSON asked for (response_format %s)",
                        format);
        text = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (cJSON_IsString(text)) {
                *ret_text = strdup(text->valuestring);
                return *ret_text ? 0 : backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        segs = cJSON_GetObjectItemCaseSensitive(j, "segments");
        if (!cJSON_IsArray(segs))
                return backend_fail(err, TRANSCRIBE_PERMANENT, -EPROTO,
                        "transcription: the answer has neither \"text\" nor \"segments\"");
        f = open_memstream(&s, &slen);
        if (!f)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        cJSON_ArrayForEach(seg, segs)
        {
                const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(seg, "text"));
                if (t)
                        fprintf(f, "%s%s", slen > 0 && t[0] != ' ' ? " " : "", t);
                fflush(f);
        }
        if (fclose(f) != 0) {
                free(s);
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        *ret_text = s;
        return 0;
}

static int add_field(curl_mime *m, const char *name, const char *value)
{
        curl_mimepart *part = curl_mime_addpart(m);

        if (!part || curl_mime_name(part, name) != CURLE_OK ||
                curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK)
                return -ENOMEM;
        return 0;
}

typedef struct Form {
        OpenAI *o;
        const BackendChunk *ch;
} Form;

static curl_mime *make_form(CURL *curl, void *userdata)
{
        const Form *f = userdata;
        const Policy *p = f->o->ctx.policy;
        curl_mime *m = curl_mime_init(curl);
        curl_mimepart *part = m ? curl_mime_addpart(m) : NULL;
        char filename[256];

        /* The server picks the decoder from the part's file name and type. */
        snprintf(filename, sizeof(filename), "%s-%u.%s", f->o->ctx.id, f->ch->index + 1,
                f->ch->format == AUDIO_FORMAT_WAV ? "wav" : "mp3");
        if (!part || curl_mime_name(part, "file") != CURLE_OK ||
                curl_mime_filedata(part, f->ch->path) != CURLE_OK ||
                curl_mime_filename(part, filename) != CURLE_OK ||
                curl_mime_type(part, audio_mime_type(f->ch->format)) != CURLE_OK ||
                add_field(m, "model", p->openai.model ?: "whisper-1") < 0 ||
                add_field(m, "response_format", f->o->format) < 0 ||
                (p->transcribe.language && add_field(m, "language", p->transcribe.language) < 0)) {
                curl_mime_free(m);
                return NULL;
        }
        return m;
}

static int openai_transcribe(void *state, const BackendChunk *ch, char **ret_text, BackendError *err)
{
        OpenAI *o = state;
        Form form = { .o = o, .ch = ch };
        HttpRequest req = HTTP_REQUEST_INIT("POST", o->url);
        HttpResponse resp;
        int r;

        req.make_mime = make_form;
        req.mime_userdata = &form;
        req.send_key = o->keyed;
        req.low_speed = true;
        if (o->ctx.progress)
                o->ctx.progress("uploading", 0, ch->size_bytes, o->ctx.userdata);
        r = http_perform_retrying(&o->http, &req, &resp, "transcription", err);
        if (r < 0)
                return r;
        r = http_fail_status(&o->http, &resp, "transcription", err);
        if (r >= 0)
                r = openai_parse_response(o->format, resp.body, resp.body_len, ret_text, err);
        http_response_done(&resp);
        return r;
}

static void openai_close(void *state)
{
        OpenAI *o = state;

        if (!o)
                return;
        http_client_done(&o->http);
        free(o->url);
        free(o);
}

static int openai_open(const BackendContext *ctx, void **ret_state, BackendError *err)
{
        const Policy *p = ctx->policy;
        _cleanup_free_ char *key = NULL;
        OpenAI *o;
        int r;

        if (isempty(p->openai.endpoint))
                return backend_fail(
                        err, TRANSCRIBE_PERMANENT, -EINVAL, "the openai backend needs [openai] endpoint");
        o = calloc(1, sizeof(*o));
        if (!o)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        o->ctx = *ctx;
        o->format = openai_effective_format(p->openai.model, p->openai.response_format);
        o->url = openai_url(p->openai.endpoint);
        r = o->url ? 0 : backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        if (r >= 0)
                r = http_load_key(p->openai.api_key_file, p->openai.api_key_env, &key, err);
        if (r >= 0) {
                o->keyed = key != NULL; /* local servers often need none: no header at all then */
                r = http_client_init(&o->http, p, p->openai.endpoint, "Authorization: Bearer ", key, err);
        }
        if (key)
                explicit_bzero(key, strlen(key));
        if (r < 0) {
                openai_close(o);
                return r;
        }
        *ret_state = o;
        return 0;
}

static uint64_t openai_max_bytes(const Policy *p)
{
        uint64_t max = p->openai.max_upload_bytes;
        return max > 2 * MULTIPART_OVERHEAD ? max - MULTIPART_OVERHEAD : max / 2;
}

static usec_t openai_max_usec(const Policy *p)
{
        return openai_model_max_usec(p->openai.model);
}

const BackendOps backend_openai_ops = {
        .name = "openai",
        .open = openai_open,
        .transcribe = openai_transcribe,
        .close = openai_close,
        .max_chunk_bytes = openai_max_bytes,
        .max_chunk_usec = openai_max_usec,
};
