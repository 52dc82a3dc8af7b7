/*
 * Drives the pcm-ring WaveRT C ABI the way a SYSVAD-derived miniport does:
 * an IOCTL dispatch routine writes the app's audio in pieces of any length,
 * a timer DPC moves the position and copies the ring into the cyclic DMA
 * buffer, and the "audio engine" checks every frame it reads from that
 * buffer: sequence-numbered frames in order, or the format's silence.
 *
 * The last part runs the IOCTL writer and the timer on two threads at once,
 * as they run on two processors in a driver, with no lock between them.
 *
 * Build (see .ci/wavert.sh):
 *   gcc -std=c11 -pthread -Wall -Wextra -Werror -I include tests/harness.c \
 *       libpcm_ring_wavert_capi.a -o harness
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcm_ring_wavert.h"

/* `passed` counts each check (each source line) once, however many times a
 * loop runs it; `failed` counts every failure. */
static int passed, failed;

#define CHECK(cond)                                                        \
    do {                                                                   \
        static int counted;                                                \
        if (cond) {                                                        \
            if (!counted) {                                                \
                counted = 1;                                               \
                passed++;                                                  \
            }                                                              \
        } else {                                                           \
            failed++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
        }                                                                  \
    } while (0)

#define QPC_FREQUENCY 3579545ull /* an odd QPC frequency */

/* A small deterministic generator for the IOCTL lengths and timer jitter. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(uint64_t below) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % below;
}

/* Nonpaged memory: deliberately misaligned by one byte. */
static PcmWavertStream *create(const PcmWavertConfig *config, void **block) {
    size_t size = 0;
    PcmWavertStream *stream = NULL;
    CHECK(pcm_wavert_memory_size(config, &size) == PCM_WAVERT_STATUS_SUCCESS);
    *block = malloc(size + 1);
    CHECK(pcm_wavert_create(config, (uint8_t *)*block + 1, size - 1, &stream) ==
          PCM_WAVERT_STATUS_BUFFER_TOO_SMALL);
    CHECK(pcm_wavert_create(config, (uint8_t *)*block + 1, size, &stream) ==
          PCM_WAVERT_STATUS_SUCCESS);
    return stream;
}

/* The IOCTL dispatch routine (one sequential queue: one writer). */
static int32_t dispatch_write(PcmWavertStream *s, const uint8_t *buf, size_t len) {
    size_t accepted = 0;
    int32_t status = pcm_wavert_ioctl_write(s, buf, len, &accepted);
    if (status == PCM_WAVERT_STATUS_SUCCESS) {
        CHECK(accepted <= len);
    }
    return status;
}

static void run(PcmWavertStream *s, uint32_t state, uint64_t qpc) {
    CHECK(pcm_wavert_set_state(s, state, qpc, QPC_FREQUENCY) == PCM_WAVERT_STATUS_SUCCESS);
}

/* 48 kHz 16-bit stereo: 4-byte frames numbered 1, 2, 3 ... (never 0). */
static void put_frame(uint8_t *p, uint32_t n) { memcpy(p, &n, 4); }
static uint32_t get_frame(const uint8_t *p) {
    uint32_t n;
    memcpy(&n, p, 4);
    return n;
}

static void stream_through_the_timer(void) {
    PcmWavertConfig config = {
        .sample_rate = 48000,
        .channels = 2,
        .bits_per_sample = 16,
        .ring_bytes = 7680, /* 40 ms */
        .overrun = PCM_WAVERT_OVERRUN_REJECT,
        .start_threshold_bytes = 0,
        .low_watermark_bytes = 3840,
        .silence_ahead_bytes = 0,
    };
    void *block;
    PcmWavertStream *s = create(&config, &block);
    uint32_t actual = 0;
    CHECK(pcm_wavert_allocate_buffer(s, 1922, 2, &actual) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(actual == 1920); /* rounded down to whole frames */
    uint8_t *dma = malloc(actual);
    memset(dma, 0x55, actual); /* stale garbage the engine must never hear */

    /* The app pre-fills 20 ms before the client starts the stream. */
    uint8_t app[4096];
    uint32_t next_written = 1, next_heard = 1;
    size_t pending = 0; /* bytes of app[] not yet sent */
    while (next_written <= 960) {
        put_frame(app, next_written++);
        CHECK(dispatch_write(s, app, 4) == PCM_WAVERT_STATUS_SUCCESS);
    }

    run(s, PCM_WAVERT_KSSTATE_ACQUIRE, 0);
    run(s, PCM_WAVERT_KSSTATE_PAUSE, 0);
    CHECK(pcm_wavert_set_state(s, PCM_WAVERT_KSSTATE_STOP, 0, QPC_FREQUENCY) ==
          PCM_WAVERT_STATUS_INVALID_DEVICE_STATE); /* PAUSE -> STOP skips ACQUIRE */
    run(s, PCM_WAVERT_KSSTATE_ACQUIRE, 0);
    run(s, PCM_WAVERT_KSSTATE_STOP, 0);
    CHECK(pcm_wavert_set_state(s, PCM_WAVERT_KSSTATE_RUN, 0, QPC_FREQUENCY) ==
          PCM_WAVERT_STATUS_INVALID_DEVICE_STATE); /* STOP -> RUN skips two */
    run(s, PCM_WAVERT_KSSTATE_ACQUIRE, 0);
    run(s, PCM_WAVERT_KSSTATE_PAUSE, 0);
    uint64_t qpc = 1000;
    run(s, PCM_WAVERT_KSSTATE_RUN, qpc);

    uint64_t heard_frames = 0, silence_frames = 0, linear = 0;
    for (int dpc = 0; dpc < 20000; dpc++) {
        /* IOCTLs: the app keeps about 20 ms queued, in pieces of any length. */
        PcmWavertCounters c;
        CHECK(pcm_wavert_counters(s, &c) == PCM_WAVERT_STATUS_SUCCESS);
        if (c.fill < 3840) {
            while (pending + 4 <= sizeof app && pending < 1920) {
                put_frame(app + pending, next_written++);
                pending += 4;
            }
            size_t sent = 0;
            while (sent < pending) {
                size_t len = 1 + rng(700);
                if (len > pending - sent) len = pending - sent;
                CHECK(dispatch_write(s, app + sent, len) == PCM_WAVERT_STATUS_SUCCESS);
                sent += len;
            }
            pending = 0;
        }
        /* The timer DPC, about every millisecond, sometimes twice per tick. */
        if (rng(10) != 0) qpc += QPC_FREQUENCY / 1000 - 200 + rng(400);
        PcmWavertTick tick;
        CHECK(pcm_wavert_timer(s, dma, actual, qpc, QPC_FREQUENCY, &tick) ==
              PCM_WAVERT_STATUS_SUCCESS);
        CHECK(tick.data_bytes + tick.silence_bytes == tick.frames * 4);
        /* The audio engine reads what moved. */
        for (uint64_t i = 0; i < tick.frames; i++) {
            uint32_t n = get_frame(dma + (linear % actual));
            linear += 4;
            if (n == 0) {
                silence_frames++;
            } else {
                CHECK(n == next_heard);
                if (n != next_heard) break;
                next_heard++;
                heard_frames++;
            }
        }
    }
    PcmWavertPosition pos;
    CHECK(pcm_wavert_position(s, &pos) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(pos.linear_position == linear);
    CHECK(pos.play_offset == linear % actual);
    CHECK(pos.presentation_frames == linear / 4);
    /* floor(elapsed * 48000 / f) frames, exactly. */
    CHECK(pos.presentation_frames == (qpc - 1000) * 48000 / QPC_FREQUENCY);
    CHECK(heard_frames > 900000 / 2);
    CHECK(silence_frames == 0);

    /* The ring full under REJECT: STATUS_DEVICE_BUSY, nothing written. */
    PcmWavertCounters before, after;
    CHECK(pcm_wavert_counters(s, &before) == PCM_WAVERT_STATUS_SUCCESS);
    uint8_t big[7680];
    memset(big, 1, sizeof big);
    CHECK(dispatch_write(s, big, 7680 - before.fill + 4) == PCM_WAVERT_STATUS_DEVICE_BUSY);
    CHECK(dispatch_write(s, big, 7681) == PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE);
    CHECK(dispatch_write(s, big, 0) == PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE);
    CHECK(pcm_wavert_ioctl_write(s, NULL, 4, NULL) == PCM_WAVERT_STATUS_INVALID_PARAMETER);
    CHECK(pcm_wavert_counters(s, &after) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(after.fill == before.fill && after.written == before.written);
    CHECK(after.refused == before.refused + 1 && after.overruns == before.overruns);

    /* A DMA buffer of the wrong length, a misaligned out-pointer. */
    CHECK(pcm_wavert_timer(s, dma, actual - 4, qpc + 10000, QPC_FREQUENCY, NULL) ==
          PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE);
    CHECK(pcm_wavert_timer(s, dma, actual, qpc + 10000, QPC_FREQUENCY,
                           (PcmWavertTick *)((uint8_t *)&after + 1)) ==
          PCM_WAVERT_STATUS_INVALID_PARAMETER);
    CHECK(pcm_wavert_position(NULL, &pos) == PCM_WAVERT_STATUS_INVALID_PARAMETER);

    /* STOP resets the positions. */
    run(s, PCM_WAVERT_KSSTATE_PAUSE, qpc);
    run(s, PCM_WAVERT_KSSTATE_ACQUIRE, qpc);
    run(s, PCM_WAVERT_KSSTATE_STOP, qpc);
    CHECK(pcm_wavert_position(s, &pos) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(pos.linear_position == 0 && pos.presentation_frames == 0);

    CHECK(pcm_wavert_destroy(s) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(pcm_wavert_destroy(s) == PCM_WAVERT_STATUS_INVALID_PARAMETER);
    free(dma);
    free(block);
}

/* Unsigned 8-bit: a shortfall is 0x80, never stale bytes or zeros. */
static void unsigned_8_bit_silence(void) {
    PcmWavertConfig config = {
        .sample_rate = 48000,
        .channels = 2,
        .bits_per_sample = 8,
        .ring_bytes = 960,
        .overrun = PCM_WAVERT_OVERRUN_OVERWRITE_OLDEST,
    };
    void *block;
    PcmWavertStream *s = create(&config, &block);
    uint32_t actual = 0;
    CHECK(pcm_wavert_allocate_buffer(s, 192, 1, &actual) == PCM_WAVERT_STATUS_SUCCESS);
    uint8_t dma[192];
    memset(dma, 0x55, sizeof dma);
    const uint8_t frames[6] = {1, 2, 3, 4, 5, 6};
    /* An odd split: one frame and a held byte, then the rest. */
    CHECK(dispatch_write(s, frames, 3) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(dispatch_write(s, frames + 3, 3) == PCM_WAVERT_STATUS_SUCCESS);
    run(s, PCM_WAVERT_KSSTATE_ACQUIRE, 0);
    run(s, PCM_WAVERT_KSSTATE_PAUSE, 0);
    run(s, PCM_WAVERT_KSSTATE_RUN, 0);
    PcmWavertTick tick;
    /* Just over 0.5 ms: 24 frames, 3 of data. */
    const uint64_t half_ms = QPC_FREQUENCY / 2000 + 1;
    CHECK(pcm_wavert_timer(s, dma, sizeof dma, half_ms, QPC_FREQUENCY, &tick) ==
          PCM_WAVERT_STATUS_SUCCESS);
    CHECK(tick.frames == 24 && tick.data_bytes == 6 && tick.silence_bytes == 42);
    CHECK(tick.underrun == 1);
    CHECK(memcmp(dma, frames, 6) == 0);
    int silence_ok = 1;
    for (int i = 6; i < 48; i++) silence_ok &= dma[i] == 0x80;
    CHECK(silence_ok);
    CHECK(dma[48] == 0x55); /* not reached yet */
    /* A second DPC on the same tick moves nothing. */
    CHECK(pcm_wavert_timer(s, dma, sizeof dma, half_ms, QPC_FREQUENCY, &tick) ==
          PCM_WAVERT_STATUS_SUCCESS);
    CHECK(tick.frames == 0 && tick.data_bytes == 0);
    PcmWavertCounters c;
    CHECK(pcm_wavert_counters(s, &c) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(c.underruns == 1 && c.silence_underrun == 42 && c.stale_updates == 1);
    CHECK(pcm_wavert_destroy(s) == PCM_WAVERT_STATUS_SUCCESS);
    free(block);
}

/* Two threads: the IOCTL writer (REJECT: a full ring answers
 * STATUS_DEVICE_BUSY and the app retries the same bytes) and the timer
 * DPC. Every frame must be heard exactly once, in order: REJECT loses
 * nothing. */
#define CONCURRENT_FRAMES 400000u

static atomic_int writer_done;

static void *ioctl_thread(void *arg) {
    PcmWavertStream *s = arg;
    uint64_t local = 0x2545F4914F6CDD1Dull;
    uint8_t chunk[1024];
    uint32_t next = 1;
    while (next <= CONCURRENT_FRAMES) {
        local ^= local << 13;
        local ^= local >> 7;
        local ^= local << 17;
        size_t frames = 1 + local % 200;
        if (frames > CONCURRENT_FRAMES + 1 - next) frames = CONCURRENT_FRAMES + 1 - next;
        for (size_t i = 0; i < frames; i++) put_frame(chunk + 4 * i, next + (uint32_t)i);
        /* Split into two IOCTLs at an arbitrary byte. */
        size_t len = frames * 4, split = local % (len + 1);
        const uint8_t *parts[2] = {chunk, chunk + split};
        size_t lens[2] = {split, len - split};
        for (int p = 0; p < 2; p++) {
            if (lens[p] == 0) continue;
            int32_t status;
            while ((status = pcm_wavert_ioctl_write(s, parts[p], lens[p], NULL)) ==
                   PCM_WAVERT_STATUS_DEVICE_BUSY) {
                sched_yield();
            }
            if (status != PCM_WAVERT_STATUS_SUCCESS) {
                fprintf(stderr, "ioctl write failed: %d\n", status);
                atomic_store(&writer_done, 2);
                return NULL;
            }
        }
        next += (uint32_t)frames;
    }
    atomic_store(&writer_done, 1);
    return NULL;
}

static void concurrent_writer_and_timer(void) {
    PcmWavertConfig config = {
        .sample_rate = 48000,
        .channels = 2,
        .bits_per_sample = 16,
        .ring_bytes = 3840,
        .overrun = PCM_WAVERT_OVERRUN_REJECT,
    };
    void *block;
    PcmWavertStream *s = create(&config, &block);
    uint32_t actual = 0;
    CHECK(pcm_wavert_allocate_buffer(s, 1920, 2, &actual) == PCM_WAVERT_STATUS_SUCCESS);
    uint8_t *dma = calloc(1, actual);
    run(s, PCM_WAVERT_KSSTATE_ACQUIRE, 0);
    run(s, PCM_WAVERT_KSSTATE_PAUSE, 0);
    run(s, PCM_WAVERT_KSSTATE_RUN, 0);
    pthread_t writer;
    CHECK(pthread_create(&writer, NULL, ioctl_thread, s) == 0);
    uint64_t qpc = 0, linear = 0;
    uint32_t expected = 1;
    int in_order = 1;
    /* The DPC: on each call a virtual 0-0.5 ms passes. */
    while (expected <= CONCURRENT_FRAMES && in_order && atomic_load(&writer_done) != 2) {
        qpc += rng(QPC_FREQUENCY / 2000);
        PcmWavertTick tick;
        if (pcm_wavert_timer(s, dma, actual, qpc, QPC_FREQUENCY, &tick) !=
            PCM_WAVERT_STATUS_SUCCESS) {
            in_order = 0;
            break;
        }
        for (uint64_t i = 0; i < tick.frames; i++) {
            uint32_t n = get_frame(dma + (linear % actual));
            linear += 4;
            if (n == 0) continue; /* silence: the writer was late */
            if (n != expected) {
                fprintf(stderr, "heard frame %u, expected %u\n", n, expected);
                in_order = 0;
                break;
            }
            expected++;
        }
    }
    CHECK(pthread_join(writer, NULL) == 0);
    CHECK(atomic_load(&writer_done) == 1);
    CHECK(in_order);
    CHECK(expected == CONCURRENT_FRAMES + 1);
    PcmWavertCounters c;
    CHECK(pcm_wavert_counters(s, &c) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(c.written == 4ull * CONCURRENT_FRAMES && c.read == c.written);
    CHECK(c.dropped == 0 && c.overwritten == 0);
    CHECK(pcm_wavert_destroy(s) == PCM_WAVERT_STATUS_SUCCESS);
    free(dma);
    free(block);
}

/* A virtual cable relayed by a user-mode app: a render stream's timer
 * copies what its engine wrote into the render DMA buffer into its ring;
 * the app reads it by IOCTL and writes it by IOCTL into a capture stream,
 * whose timer copies it into the capture DMA buffer. */
static void render_to_capture_through_the_app(void) {
    PcmWavertConfig render_config = {
        .sample_rate = 44100,
        .channels = 2,
        .bits_per_sample = 16,
        .ring_bytes = 7056, /* 40 ms */
        .overrun = PCM_WAVERT_OVERRUN_REJECT,
        .direction = PCM_WAVERT_DIRECTION_RENDER,
    };
    PcmWavertConfig capture_config = render_config;
    capture_config.direction = PCM_WAVERT_DIRECTION_CAPTURE;
    capture_config.start_threshold_bytes = 1764; /* start with 10 ms */
    void *render_block, *capture_block;
    PcmWavertStream *render = create(&render_config, &render_block);
    PcmWavertStream *capture = create(&capture_config, &capture_block);
    uint32_t render_size = 0, capture_size = 0;
    CHECK(pcm_wavert_allocate_buffer(render, 1764, 2, &render_size) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(pcm_wavert_allocate_buffer(capture, 1764, 2, &capture_size) == PCM_WAVERT_STATUS_SUCCESS);
    uint8_t *render_dma = malloc(render_size), *capture_dma = malloc(capture_size);
    uint32_t frames = render_size / 4, engine_next = 1;
    uint64_t engine_written = 0; /* frames the render engine put in its buffer */
    while (engine_written < frames) {
        put_frame(render_dma + 4 * (engine_written % frames), engine_next++);
        engine_written++;
    }
    /* The wrong direction for each IOCTL. */
    uint8_t buf[4096];
    size_t got = 0;
    CHECK(pcm_wavert_ioctl_write(render, buf, 4, NULL) == PCM_WAVERT_STATUS_INVALID_DEVICE_REQUEST);
    CHECK(pcm_wavert_ioctl_read(capture, buf, 4, &got) == PCM_WAVERT_STATUS_INVALID_DEVICE_REQUEST);
    for (uint32_t st = PCM_WAVERT_KSSTATE_ACQUIRE; st <= PCM_WAVERT_KSSTATE_RUN; st++) {
        run(render, st, 0);
        run(capture, st, 0);
    }
    uint64_t qpc = 0, capture_linear = 0, render_linear = 0;
    uint32_t expected = 1, heard = 0, silence_after_start = 0;
    for (int ms = 1; ms <= 5000; ms++) {
        qpc = (uint64_t)ms * QPC_FREQUENCY / 1000;
        PcmWavertTick tick;
        CHECK(pcm_wavert_timer(render, render_dma, render_size, qpc, QPC_FREQUENCY, &tick) ==
              PCM_WAVERT_STATUS_SUCCESS);
        CHECK(tick.dropped_bytes == 0);
        render_linear += tick.frames;
        /* The render engine refills what was played. */
        while (engine_written < render_linear + frames) {
            put_frame(render_dma + 4 * (engine_written % frames), engine_next++);
            engine_written++;
        }
        /* The app relays, in reads and writes of odd sizes. */
        size_t want = 1 + rng(sizeof buf - 1);
        CHECK(pcm_wavert_ioctl_read(render, buf, want < 4 ? 4 : want, &got) ==
              PCM_WAVERT_STATUS_SUCCESS);
        if (got > 0) {
            size_t split = rng(got + 1);
            if (split > 0) CHECK(pcm_wavert_ioctl_write(capture, buf, split, NULL) == 0);
            if (got > split) CHECK(pcm_wavert_ioctl_write(capture, buf + split, got - split, NULL) == 0);
        }
        CHECK(pcm_wavert_timer(capture, capture_dma, capture_size, qpc, QPC_FREQUENCY, &tick) ==
              PCM_WAVERT_STATUS_SUCCESS);
        for (uint64_t i = 0; i < tick.frames; i++) {
            uint32_t n = get_frame(capture_dma + (capture_linear % capture_size));
            capture_linear += 4;
            if (n == 0) {
                if (heard > 0) silence_after_start++;
                continue;
            }
            CHECK(n == expected);
            expected = n + 1;
            heard++;
        }
    }
    CHECK(heard > 44100 * 4);
    CHECK(silence_after_start == 0);
    PcmWavertCounters c;
    CHECK(pcm_wavert_counters(render, &c) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(c.dropped == 0 && c.refused == 0 && c.written == render_linear * 4);
    CHECK(pcm_wavert_destroy(render) == PCM_WAVERT_STATUS_SUCCESS);
    CHECK(pcm_wavert_destroy(capture) == PCM_WAVERT_STATUS_SUCCESS);
    free(render_dma);
    free(capture_dma);
    free(render_block);
    free(capture_block);
}

int main(void) {
    stream_through_the_timer();
    unsigned_8_bit_silence();
    concurrent_writer_and_timer();
    render_to_capture_through_the_app();
    printf("harness: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
