/*
 * arbkit.core._book: C cores for the L2 order books in arbkit/core/book.py.
 *
 * Integer-only hot path (ticks/price units and lots are int64; no floats, no Decimal).
 * Two cores:
 *   PredictionBookCore - bounded tick grid [0, n_ticks]: one int64 per tick per side plus a
 *                        bitmap of occupied ticks, so best-price tracking after a delete at the
 *                        top is a count-leading/trailing-zeros scan instead of a linear walk.
 *   CryptoBookCore     - arbitrary positive prices: a sorted array per side, stored so the best
 *                        level is at the END (bids ascending, asks descending); updates cluster
 *                        near the top of a book, so inserts/removes move few elements.
 * The Python classes in book.py subclass these and add the Decimal boundary helpers; a pure-Python
 * implementation with identical semantics is used when this extension is not built.
 *
 * Limits: lots in [0, MAX_LOTS = INT64_MAX]; crypto prices in [1, INT64_MAX]; anything bigger is a
 * ValueError, never a silent overflow. Sums that can exceed int64 (walk notional, size_up_to) spill
 * into Python ints, so results are always exact.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define MAX_LOTS INT64_MAX
#define BID 1
#define ASK 0

/* ------------------------------------------------------------------------------------------ */
/* argument helpers                                                                            */

/* An int argument as int64; an int that does not fit becomes ValueError (not OverflowError),
 * so callers see one error type for "out of range". Floats/Decimals are TypeError. */
static int
as_i64(PyObject *o, long long *out, const char *what)
{
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s %R is outside the int64 range the book supports", what, o);
        }
        return -1;
    }
    *out = v;
    return 0;
}

/* Like as_i64 but an out-of-int64 value is reported via *overflow instead of an error (queries
 * such as size_at/size_up_to accept any int and clamp). */
static int
as_i64_clamped(PyObject *o, long long *out)
{
    int overflow = 0;
    long long v;
    if (!PyLong_Check(o)) {
        PyObject *idx = PyNumber_Index(o);
        if (idx == NULL)
            return -1;
        v = PyLong_AsLongLongAndOverflow(idx, &overflow);
        Py_DECREF(idx);
    }
    else {
        v = PyLong_AsLongLongAndOverflow(o, &overflow);
    }
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow > 0)
        v = INT64_MAX;
    else if (overflow < 0)
        v = INT64_MIN;
    *out = v;
    return 0;
}

static inline int
as_bool(PyObject *o)
{
    if (o == Py_True)
        return 1;
    if (o == Py_False)
        return 0;
    return PyObject_IsTrue(o);
}

static int
check_lots(long long lots)
{
    if (lots < 0) {
        PyErr_Format(PyExc_ValueError, "lots must be >= 0, got %lld", lots);
        return -1;
    }
    return 0;
}

/* Parse (is_bid, tick, lots, sequence=0, ts_ns=0) from a vectorcall. */
static const char *const delta_kwlist[] = {"is_bid", "tick", "lots", "sequence", "ts_ns"};

static int
parse_delta_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out,
                 Py_ssize_t nrequired, Py_ssize_t nmax, const char *const *names, const char *fname)
{
    Py_ssize_t i, j;
    if (nargs > nmax) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", fname, nmax, nargs);
        return -1;
    }
    for (i = 0; i < nmax; i++)
        out[i] = i < nargs ? args[i] : NULL;
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (i = 0; i < nkw; i++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, i);
            for (j = 0; j < nmax; j++) {
                if (PyUnicode_CompareWithASCIIString(key, names[j]) == 0)
                    break;
            }
            if (j == nmax) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname, key);
                return -1;
            }
            if (out[j] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[j]);
                return -1;
            }
            out[j] = args[nargs + i];
        }
    }
    for (i = 0; i < nrequired; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[i]);
            return -1;
        }
    }
    return 0;
}

static int
parse_seq_ts(PyObject *seq_o, PyObject *ts_o, long long *seq, long long *ts)
{
    *seq = 0;
    *ts = 0;
    if (seq_o != NULL && as_i64(seq_o, seq, "sequence") < 0)
        return -1;
    if (ts_o != NULL && as_i64(ts_o, ts, "ts_ns") < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* exact accumulator: int64 fast path, spills into a Python int on overflow                     */

typedef struct {
    long long acc;
    PyObject *spill; /* NULL until the first overflow */
} BigAcc;

static int
bigacc_spill(BigAcc *a, PyObject *v)
{
    if (a->spill == NULL) {
        a->spill = v;
        return 0;
    }
    PyObject *s = PyNumber_Add(a->spill, v);
    Py_DECREF(v);
    if (s == NULL)
        return -1;
    Py_DECREF(a->spill);
    a->spill = s;
    return 0;
}

static int
bigacc_add(BigAcc *a, long long v)
{
    long long s;
    if (!__builtin_add_overflow(a->acc, v, &s)) {
        a->acc = s;
        return 0;
    }
    PyObject *old = PyLong_FromLongLong(a->acc);
    if (old == NULL)
        return -1;
    a->acc = v;
    return bigacc_spill(a, old);
}

static int
bigacc_add_prod(BigAcc *a, long long x, long long y)
{
    long long p;
    if (!__builtin_mul_overflow(x, y, &p))
        return bigacc_add(a, p);
    PyObject *px = PyLong_FromLongLong(x), *py = PyLong_FromLongLong(y), *prod = NULL;
    if (px != NULL && py != NULL)
        prod = PyNumber_Multiply(px, py);
    Py_XDECREF(px);
    Py_XDECREF(py);
    if (prod == NULL)
        return -1;
    return bigacc_spill(a, prod);
}

static PyObject *
bigacc_finish(BigAcc *a)
{
    PyObject *v = PyLong_FromLongLong(a->acc);
    if (v == NULL || a->spill == NULL)
        return v;
    PyObject *s = PyNumber_Add(a->spill, v);
    Py_DECREF(v);
    Py_CLEAR(a->spill);
    return s;
}

static void
bigacc_free(BigAcc *a)
{
    Py_CLEAR(a->spill);
}

static PyObject *
level_tuple(long long px, long long lots)
{
    PyObject *t = PyTuple_New(2);
    if (t == NULL)
        return NULL;
    PyObject *a = PyLong_FromLongLong(px), *b = PyLong_FromLongLong(lots);
    if (a == NULL || b == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_DECREF(t);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    return t;
}

/* Parse a snapshot side: an iterable of (price, lots) pairs into malloc'd arrays. */
static Py_ssize_t
parse_levels(PyObject *iterable, long long **px_out, long long **lots_out, const char *side)
{
    PyObject *seq = PySequence_Fast(iterable, "snapshot levels must be an iterable of (tick, lots) pairs");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), i;
    long long *px = PyMem_Malloc(sizeof(long long) * (n ? n : 1));
    long long *lots = PyMem_Malloc(sizeof(long long) * (n ? n : 1));
    if (px == NULL || lots == NULL) {
        PyMem_Free(px);
        PyMem_Free(lots);
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (i = 0; i < n; i++) {
        PyObject *item = items[i];
        PyObject *a, *b;
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2) {
            a = PyTuple_GET_ITEM(item, 0);
            b = PyTuple_GET_ITEM(item, 1);
            Py_INCREF(a);
            Py_INCREF(b);
        }
        else {
            PyObject *pair = PySequence_Fast(item, "snapshot level must be a (tick, lots) pair");
            if (pair == NULL)
                goto fail;
            if (PySequence_Fast_GET_SIZE(pair) != 2) {
                Py_DECREF(pair);
                PyErr_Format(PyExc_ValueError, "%s snapshot level %zd must be a (tick, lots) pair", side, i);
                goto fail;
            }
            a = PySequence_Fast_GET_ITEM(pair, 0);
            b = PySequence_Fast_GET_ITEM(pair, 1);
            Py_INCREF(a);
            Py_INCREF(b);
            Py_DECREF(pair);
        }
        int rc = as_i64(a, &px[i], "tick");
        if (rc == 0)
            rc = as_i64(b, &lots[i], "lots");
        Py_DECREF(a);
        Py_DECREF(b);
        if (rc < 0 || check_lots(lots[i]) < 0)
            goto fail;
    }
    Py_DECREF(seq);
    *px_out = px;
    *lots_out = lots;
    return n;
fail:
    PyMem_Free(px);
    PyMem_Free(lots);
    Py_DECREF(seq);
    return -1;
}

/* ========================================================================================== */
/* PredictionBookCore                                                                          */

typedef struct {
    PyObject_HEAD
    long long n_ticks;
    long long *lots[2];   /* [ASK], [BID]: n_ticks + 1 entries */
    uint64_t *bits[2];    /* occupied ticks */
    Py_ssize_t nwords;
    long long best[2];    /* best tick per side, -1 when the side is empty */
    Py_ssize_t count[2];  /* number of levels per side */
    PyObject *best_cache[2]; /* the (tick, lots) tuple last returned by best_bid/best_ask, until the top changes */
    long long sequence;
    long long last_update_ns;
} PredBook;

#define PRED_READY(self)                                                                        \
    if ((self)->lots[0] == NULL) {                                                              \
        PyErr_SetString(PyExc_RuntimeError, "book core not initialised (call __init__)");       \
        return NULL;                                                                            \
    }

/* highest set bit <= from, or -1 */
static inline long long
bits_prev(const uint64_t *bits, long long from)
{
    if (from < 0)
        return -1;
    long long w = from >> 6;
    uint64_t word = bits[w] & (~0ULL >> (63 - (from & 63)));
    for (;;) {
        if (word)
            return (w << 6) + 63 - __builtin_clzll(word);
        if (--w < 0)
            return -1;
        word = bits[w];
    }
}

/* lowest set bit >= from (bits beyond n_ticks are never set), or -1 */
static inline long long
bits_next(const uint64_t *bits, Py_ssize_t nwords, long long from)
{
    long long w = from >> 6;
    if (w >= nwords)
        return -1;
    uint64_t word = bits[w] & (~0ULL << (from & 63));
    for (;;) {
        if (word)
            return (w << 6) + __builtin_ctzll(word);
        if (++w >= nwords)
            return -1;
        word = bits[w];
    }
}

static inline void
pred_set(PredBook *b, int side, long long tick, long long lots)
{
    long long *L = b->lots[side];
    long long old = L[tick];
    L[tick] = lots;
    /* best reads are far more frequent than changes at the top: drop the cached tuple only when the top
       level itself changes or a new level becomes the top */
    if (b->best_cache[side] != NULL && (tick == b->best[side] || (side == BID ? tick > b->best[side] : tick < b->best[side])))
        Py_CLEAR(b->best_cache[side]);
    if (old == 0) {
        if (lots == 0)
            return;
        b->bits[side][tick >> 6] |= 1ULL << (tick & 63);
        b->count[side]++;
        long long best = b->best[side];
        if (best < 0 || (side == BID ? tick > best : tick < best))
            b->best[side] = tick;
    }
    else if (lots == 0) {
        b->bits[side][tick >> 6] &= ~(1ULL << (tick & 63));
        b->count[side]--;
        if (tick == b->best[side])
            b->best[side] = side == BID ? bits_prev(b->bits[BID], tick - 1)
                                        : bits_next(b->bits[ASK], b->nwords, tick + 1);
    }
}

static void
pred_clear(PredBook *b)
{
    for (int side = 0; side < 2; side++) {
        Py_CLEAR(b->best_cache[side]);
        uint64_t *bits = b->bits[side];
        long long *L = b->lots[side];
        for (Py_ssize_t w = 0; w < b->nwords; w++) {
            uint64_t word = bits[w];
            while (word) {
                L[(w << 6) + __builtin_ctzll(word)] = 0;
                word &= word - 1;
            }
            bits[w] = 0;
        }
        b->best[side] = -1;
        b->count[side] = 0;
    }
}

static void
pred_free(PredBook *b)
{
    for (int s = 0; s < 2; s++) {
        Py_CLEAR(b->best_cache[s]);
        PyMem_Free(b->lots[s]);
        PyMem_Free(b->bits[s]);
        b->lots[s] = NULL;
        b->bits[s] = NULL;
    }
}

static PyObject *
pred_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    /* arguments are for the Python subclass's __init__; storage is made by __init__ */
    PredBook *self = (PredBook *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->best[0] = self->best[1] = -1;
    return (PyObject *)self;
}

static int
pred_init(PredBook *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"n_ticks", NULL};
    long long n;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L", kwlist, &n))
        return -1;
    if (n < 1 || n > 1000000LL) {
        PyErr_Format(PyExc_ValueError, "n_ticks must be in [1, 1000000], got %lld", n);
        return -1;
    }
    pred_free(self);
    self->n_ticks = n;
    self->nwords = (Py_ssize_t)((n + 1 + 63) / 64);
    for (int s = 0; s < 2; s++) {
        self->lots[s] = PyMem_Calloc((size_t)(n + 1), sizeof(long long));
        self->bits[s] = PyMem_Calloc((size_t)self->nwords, sizeof(uint64_t));
        if (self->lots[s] == NULL || self->bits[s] == NULL) {
            pred_free(self);
            PyErr_NoMemory();
            return -1;
        }
        self->best[s] = -1;
        self->count[s] = 0;
    }
    self->sequence = 0;
    self->last_update_ns = 0;
    return 0;
}

static void
pred_dealloc(PredBook *self)
{
    pred_free(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
pred_check_tick(PredBook *self, long long tick)
{
    if (tick < 0 || tick > self->n_ticks) {
        PyErr_Format(PyExc_ValueError, "tick %lld is outside the grid [0, %lld]", tick, self->n_ticks);
        return -1;
    }
    return 0;
}

static PyObject *
pred_apply_delta(PredBook *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[5];
    long long tick, lots, seq, ts;
    int is_bid;
    PRED_READY(self);
    if (kwnames == NULL && nargs >= 3 && nargs <= 5) {
        a[0] = args[0];
        a[1] = args[1];
        a[2] = args[2];
        a[3] = nargs > 3 ? args[3] : NULL;
        a[4] = nargs > 4 ? args[4] : NULL;
    }
    else if (parse_delta_args(args, nargs, kwnames, a, 3, 5, delta_kwlist, "apply_delta") < 0)
        return NULL;
    if ((is_bid = as_bool(a[0])) < 0 || as_i64(a[1], &tick, "tick") < 0 || as_i64(a[2], &lots, "lots") < 0)
        return NULL;
    if (pred_check_tick(self, tick) < 0 || check_lots(lots) < 0)
        return NULL;
    if (parse_seq_ts(a[3], a[4], &seq, &ts) < 0)
        return NULL;
    pred_set(self, is_bid, tick, lots);
    self->sequence = seq;
    self->last_update_ns = ts;
    Py_RETURN_NONE;
}

/* Convert three parallel sequences into int64 arrays, validating everything first. */
static Py_ssize_t
parse_batch(PyObject *is_bid_o, PyObject *ticks_o, PyObject *lots_o, unsigned char **sides,
            long long **ticks, long long **lots)
{
    PyObject *s1 = PySequence_Fast(is_bid_o, "is_bid_seq must be a sequence");
    PyObject *s2 = s1 ? PySequence_Fast(ticks_o, "tick_seq must be a sequence") : NULL;
    PyObject *s3 = s2 ? PySequence_Fast(lots_o, "lots_seq must be a sequence") : NULL;
    Py_ssize_t n = -1, i;
    *sides = NULL;
    *ticks = NULL;
    *lots = NULL;
    if (s3 == NULL)
        goto done;
    n = PySequence_Fast_GET_SIZE(s1);
    if (PySequence_Fast_GET_SIZE(s2) != n || PySequence_Fast_GET_SIZE(s3) != n) {
        PyErr_SetString(PyExc_ValueError, "apply_deltas: sequences must have the same length");
        n = -1;
        goto done;
    }
    *sides = PyMem_Malloc(n ? n : 1);
    *ticks = PyMem_Malloc(sizeof(long long) * (n ? n : 1));
    *lots = PyMem_Malloc(sizeof(long long) * (n ? n : 1));
    if (*sides == NULL || *ticks == NULL || *lots == NULL) {
        PyErr_NoMemory();
        n = -1;
        goto done;
    }
    for (i = 0; i < n; i++) {
        int b = as_bool(PySequence_Fast_GET_ITEM(s1, i));
        if (b < 0 || as_i64(PySequence_Fast_GET_ITEM(s2, i), &(*ticks)[i], "tick") < 0 ||
            as_i64(PySequence_Fast_GET_ITEM(s3, i), &(*lots)[i], "lots") < 0 || check_lots((*lots)[i]) < 0) {
            n = -1;
            goto done;
        }
        (*sides)[i] = (unsigned char)b;
    }
done:
    Py_XDECREF(s1);
    Py_XDECREF(s2);
    Py_XDECREF(s3);
    if (n < 0) {
        PyMem_Free(*sides);
        PyMem_Free(*ticks);
        PyMem_Free(*lots);
        *sides = NULL;
        *ticks = NULL;
        *lots = NULL;
    }
    return n;
}

static const char *const batch_kwlist[] = {"is_bid_seq", "tick_seq", "lots_seq", "sequence", "ts_ns"};

static PyObject *
pred_apply_deltas(PredBook *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[5];
    unsigned char *sides;
    long long *ticks, *lots, seq, ts;
    PRED_READY(self);
    if (parse_delta_args(args, nargs, kwnames, a, 3, 5, batch_kwlist, "apply_deltas") < 0)
        return NULL;
    if (parse_seq_ts(a[3], a[4], &seq, &ts) < 0)
        return NULL;
    Py_ssize_t n = parse_batch(a[0], a[1], a[2], &sides, &ticks, &lots), i;
    if (n < 0)
        return NULL;
    for (i = 0; i < n; i++) {
        if (pred_check_tick(self, ticks[i]) < 0) {
            n = -1;
            break;
        }
    }
    for (i = 0; i < n; i++)
        pred_set(self, sides[i], ticks[i], lots[i]);
    PyMem_Free(sides);
    PyMem_Free(ticks);
    PyMem_Free(lots);
    if (n < 0)
        return NULL;
    if (n > 0) {
        self->sequence = seq;
        self->last_update_ns = ts;
    }
    Py_RETURN_NONE;
}

static PyObject *
pred_apply_snapshot(PredBook *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"bids", "asks", "sequence", "ts_ns", NULL};
    PyObject *bids_o, *asks_o, *seq_o = NULL, *ts_o = NULL;
    long long seq = 0, ts = 0, *px[2] = {NULL, NULL}, *lots[2] = {NULL, NULL};
    Py_ssize_t n[2] = {0, 0}, i;
    PRED_READY(self);
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OO", kwlist, &bids_o, &asks_o, &seq_o, &ts_o))
        return NULL;
    if (parse_seq_ts(seq_o, ts_o, &seq, &ts) < 0)
        return NULL;
    if ((n[BID] = parse_levels(bids_o, &px[BID], &lots[BID], "bid")) < 0)
        return NULL;
    if ((n[ASK] = parse_levels(asks_o, &px[ASK], &lots[ASK], "ask")) < 0)
        goto fail;
    for (int s = 0; s < 2; s++)
        for (i = 0; i < n[s]; i++)
            if (pred_check_tick(self, px[s][i]) < 0)
                goto fail;
    /* all validated: now replace the book (a bad snapshot leaves the old book untouched) */
    pred_clear(self);
    for (int s = 0; s < 2; s++)
        for (i = 0; i < n[s]; i++)
            pred_set(self, s, px[s][i], lots[s][i]);
    self->sequence = seq;
    self->last_update_ns = ts;
    for (int s = 0; s < 2; s++) {
        PyMem_Free(px[s]);
        PyMem_Free(lots[s]);
    }
    Py_RETURN_NONE;
fail:
    for (int s = 0; s < 2; s++) {
        PyMem_Free(px[s]);
        PyMem_Free(lots[s]);
    }
    return NULL;
}

static PyObject *
pred_best_bid(PredBook *self, PyObject *unused)
{
    PRED_READY(self);
    long long t = self->best[BID];
    if (t < 0)
        Py_RETURN_NONE;
    if (self->best_cache[BID] == NULL && (self->best_cache[BID] = level_tuple(t, self->lots[BID][t])) == NULL)
        return NULL;
    return Py_NewRef(self->best_cache[BID]);
}

static PyObject *
pred_best_ask(PredBook *self, PyObject *unused)
{
    PRED_READY(self);
    long long t = self->best[ASK];
    if (t < 0)
        Py_RETURN_NONE;
    if (self->best_cache[ASK] == NULL && (self->best_cache[ASK] = level_tuple(t, self->lots[ASK][t])) == NULL)
        return NULL;
    return Py_NewRef(self->best_cache[ASK]);
}

static PyObject *
pred_is_crossed(PredBook *self, PyObject *unused)
{
    PRED_READY(self);
    return PyBool_FromLong(self->best[BID] >= 0 && self->best[ASK] >= 0 && self->best[BID] >= self->best[ASK]);
}

static PyObject *
pred_clear_m(PredBook *self, PyObject *unused)
{
    PRED_READY(self);
    pred_clear(self);
    Py_RETURN_NONE;
}

/* parse (is_bid_or_buy, int) for queries */
static int
parse_side_int(PyObject *const *args, Py_ssize_t nargs, const char *fname, int *side, long long *v)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 2 arguments (%zd given)", fname, nargs);
        return -1;
    }
    if ((*side = as_bool(args[0])) < 0)
        return -1;
    return as_i64_clamped(args[1], v);
}

static PyObject *
pred_size_at(PredBook *self, PyObject *const *args, Py_ssize_t nargs)
{
    int side;
    long long tick;
    PRED_READY(self);
    if (parse_side_int(args, nargs, "size_at", &side, &tick) < 0)
        return NULL;
    if (tick < 0 || tick > self->n_ticks)
        return PyLong_FromLong(0);
    return PyLong_FromLongLong(self->lots[side][tick]);
}

static PyObject *
parse_depth(PyObject *const *args, Py_ssize_t nargs, const char *fname, int *side, Py_ssize_t *depth)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes 1 or 2 arguments (%zd given)", fname, nargs);
        return NULL;
    }
    if ((*side = as_bool(args[0])) < 0)
        return NULL;
    *depth = PY_SSIZE_T_MAX;
    if (nargs == 2 && args[1] != Py_None) {
        long long d;
        if (as_i64_clamped(args[1], &d) < 0)
            return NULL;
        if (d < 0) {
            PyErr_SetString(PyExc_ValueError, "depth must be >= 0 or None");
            return NULL;
        }
        *depth = d > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)d;
    }
    return Py_None; /* borrowed sentinel meaning "ok" */
}

static PyObject *
pred_levels(PredBook *self, PyObject *const *args, Py_ssize_t nargs)
{
    int side;
    Py_ssize_t depth, k = 0;
    PRED_READY(self);
    if (parse_depth(args, nargs, "levels", &side, &depth) == NULL)
        return NULL;
    Py_ssize_t n = self->count[side] < depth ? self->count[side] : depth;
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    long long t = self->best[side];
    while (k < n && t >= 0) {
        PyObject *lv = level_tuple(t, self->lots[side][t]);
        if (lv == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k++, lv);
        t = side == BID ? bits_prev(self->bits[BID], t - 1) : bits_next(self->bits[ASK], self->nwords, t + 1);
    }
    if (k < n) { /* level count and bitmap disagree: never expected, never hand out a list with holes */
        Py_DECREF(out);
        PyErr_SetString(PyExc_SystemError, "PredictionBook invariant broken: level count != occupied ticks");
        return NULL;
    }
    return out;
}

static PyObject *
pred_level_count(PredBook *self, PyObject *arg)
{
    PRED_READY(self);
    int side = as_bool(arg);
    if (side < 0)
        return NULL;
    return PyLong_FromSsize_t(self->count[side]);
}

static PyObject *
pred_walk(PredBook *self, PyObject *const *args, Py_ssize_t nargs)
{
    int is_buy;
    long long want;
    PRED_READY(self);
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "walk() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if ((is_buy = as_bool(args[0])) < 0 || as_i64(args[1], &want, "lots") < 0 || check_lots(want) < 0)
        return NULL;
    int side = is_buy ? ASK : BID; /* a buy takes asks, a sell takes bids */
    long long filled = 0, t = self->best[side];
    BigAcc notional = {0, NULL};
    while (filled < want && t >= 0) {
        long long avail = self->lots[side][t];
        long long take = want - filled < avail ? want - filled : avail;
        filled += take;
        if (bigacc_add_prod(&notional, t, take) < 0) {
            bigacc_free(&notional);
            return NULL;
        }
        t = side == BID ? bits_prev(self->bits[BID], t - 1) : bits_next(self->bits[ASK], self->nwords, t + 1);
    }
    PyObject *n = bigacc_finish(&notional);
    if (n == NULL)
        return NULL;
    return Py_BuildValue("(LN)", filled, n);
}

static PyObject *
pred_size_up_to(PredBook *self, PyObject *const *args, Py_ssize_t nargs)
{
    int is_buy;
    long long limit;
    PRED_READY(self);
    if (parse_side_int(args, nargs, "size_up_to", &is_buy, &limit) < 0)
        return NULL;
    int side = is_buy ? ASK : BID;
    BigAcc total = {0, NULL};
    long long t = self->best[side];
    while (t >= 0 && (is_buy ? t <= limit : t >= limit)) {
        if (bigacc_add(&total, self->lots[side][t]) < 0) {
            bigacc_free(&total);
            return NULL;
        }
        t = side == BID ? bits_prev(self->bits[BID], t - 1) : bits_next(self->bits[ASK], self->nwords, t + 1);
    }
    return bigacc_finish(&total);
}

static PyMethodDef pred_methods[] = {
    {"apply_delta", (PyCFunction)(void (*)(void))pred_apply_delta, METH_FASTCALL | METH_KEYWORDS,
     "apply_delta(is_bid, tick, lots, sequence=0, ts_ns=0): set the level's NEW TOTAL lots (0 removes)."},
    {"apply_deltas", (PyCFunction)(void (*)(void))pred_apply_deltas, METH_FASTCALL | METH_KEYWORDS,
     "apply_deltas(is_bid_seq, tick_seq, lots_seq, sequence=0, ts_ns=0): validate all, then apply in order."},
    {"apply_snapshot", (PyCFunction)(void (*)(void))pred_apply_snapshot, METH_VARARGS | METH_KEYWORDS,
     "apply_snapshot(bids, asks, sequence=0, ts_ns=0): replace the whole book."},
    {"best_bid", (PyCFunction)pred_best_bid, METH_NOARGS, "(tick, lots) of the best bid, or None."},
    {"best_ask", (PyCFunction)pred_best_ask, METH_NOARGS, "(tick, lots) of the best ask, or None."},
    {"is_crossed", (PyCFunction)pred_is_crossed, METH_NOARGS, "best bid >= best ask (both sides present)."},
    {"clear", (PyCFunction)pred_clear_m, METH_NOARGS, "remove every level (sequence/time kept)."},
    {"size_at", (PyCFunction)(void (*)(void))pred_size_at, METH_FASTCALL, "size_at(is_bid, tick) -> lots."},
    {"levels", (PyCFunction)(void (*)(void))pred_levels, METH_FASTCALL, "levels(is_bid, depth=None), best first."},
    {"level_count", (PyCFunction)pred_level_count, METH_O, "level_count(is_bid) -> number of levels."},
    {"walk", (PyCFunction)(void (*)(void))pred_walk, METH_FASTCALL, "walk(is_buy, lots) -> (filled_lots, notional)."},
    {"size_up_to", (PyCFunction)(void (*)(void))pred_size_up_to, METH_FASTCALL,
     "size_up_to(is_buy, limit_tick) -> lots available within the limit."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef pred_members[] = {
    {"n_ticks", T_LONGLONG, offsetof(PredBook, n_ticks), READONLY, "ticks in the grid (prices 0..n_ticks)"},
    {"sequence", T_LONGLONG, offsetof(PredBook, sequence), 0, "sequence of the last applied message"},
    {"last_update_ns", T_LONGLONG, offsetof(PredBook, last_update_ns), 0, "ts_ns of the last applied message"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PredBookType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "arbkit.core._book.PredictionBookCore",
    .tp_basicsize = sizeof(PredBook),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Integer core of PredictionBook (bounded tick grid).",
    .tp_new = pred_new,
    .tp_init = (initproc)pred_init,
    .tp_dealloc = (destructor)pred_dealloc,
    .tp_methods = pred_methods,
    .tp_members = pred_members,
};

/* ========================================================================================== */
/* CryptoBookCore                                                                              */

typedef struct {
    long long key; /* bids: price; asks: -price. Arrays are ascending by key, best level last. */
    long long lots;
} Level;

typedef struct {
    PyObject_HEAD
    Level *lv[2];
    Py_ssize_t n[2];
    Py_ssize_t cap[2];
    PyObject *best_cache[2]; /* the (price, lots) tuple last returned by best_bid/best_ask, until the top changes */
    long long sequence;
    long long last_update_ns;
} CBook;

static inline long long
key_of(int side, long long px)
{
    return side == BID ? px : -px;
}

/* index of the first element with key >= k */
static inline Py_ssize_t
lower_bound(const Level *a, Py_ssize_t n, long long k)
{
    Py_ssize_t lo = 0, hi = n;
    /* the top of the book (the end of the array) is the usual target: check it first */
    if (n > 0 && a[n - 1].key < k)
        return n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        if (a[mid].key < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
cbook_reserve(CBook *b, int side, Py_ssize_t need)
{
    if (need <= b->cap[side])
        return 0;
    Py_ssize_t cap = b->cap[side] ? b->cap[side] : 64;
    while (cap < need)
        cap *= 2;
    Level *p = PyMem_Realloc(b->lv[side], sizeof(Level) * cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->lv[side] = p;
    b->cap[side] = cap;
    return 0;
}

static inline int
cbook_set(CBook *b, int side, long long px, long long lots)
{
    long long k = key_of(side, px);
    Level *a = b->lv[side];
    Py_ssize_t n = b->n[side];
    Py_ssize_t i = lower_bound(a, n, k);
    if (i >= n - 1) /* the top (last element) changes or a new top arrives */
        Py_CLEAR(b->best_cache[side]);
    if (i < n && a[i].key == k) {
        if (lots) {
            a[i].lots = lots;
        }
        else {
            memmove(&a[i], &a[i + 1], sizeof(Level) * (n - i - 1));
            b->n[side] = n - 1;
        }
        return 0;
    }
    if (!lots)
        return 0; /* deleting a level that is not there is a no-op */
    if (n + 1 > b->cap[side]) {
        if (cbook_reserve(b, side, n + 1) < 0)
            return -1;
        a = b->lv[side];
    }
    memmove(&a[i + 1], &a[i], sizeof(Level) * (n - i));
    a[i].key = k;
    a[i].lots = lots;
    b->n[side] = n + 1;
    return 0;
}

#define CBOOK_PX(side, key) ((side) == BID ? (key) : -(key))

static PyObject *
cbook_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    CBook *self = (CBook *)type->tp_alloc(type, 0);
    return (PyObject *)self;
}

static int
cbook_init(CBook *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist))
        return -1;
    for (int s = 0; s < 2; s++) {
        self->n[s] = 0;
        Py_CLEAR(self->best_cache[s]);
    }
    self->sequence = 0;
    self->last_update_ns = 0;
    return 0;
}

static void
cbook_dealloc(CBook *self)
{
    Py_CLEAR(self->best_cache[0]);
    Py_CLEAR(self->best_cache[1]);
    PyMem_Free(self->lv[0]);
    PyMem_Free(self->lv[1]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
cbook_check_px(long long px)
{
    if (px < 1) {
        PyErr_Format(PyExc_ValueError, "price %lld must be >= 1 price unit", px);
        return -1;
    }
    return 0;
}

static PyObject *
cbook_apply_delta(CBook *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[5];
    long long px, lots, seq, ts;
    int is_bid;
    if (kwnames == NULL && nargs >= 3 && nargs <= 5) {
        a[0] = args[0];
        a[1] = args[1];
        a[2] = args[2];
        a[3] = nargs > 3 ? args[3] : NULL;
        a[4] = nargs > 4 ? args[4] : NULL;
    }
    else if (parse_delta_args(args, nargs, kwnames, a, 3, 5, delta_kwlist, "apply_delta") < 0)
        return NULL;
    if ((is_bid = as_bool(a[0])) < 0 || as_i64(a[1], &px, "tick") < 0 || as_i64(a[2], &lots, "lots") < 0)
        return NULL;
    if (cbook_check_px(px) < 0 || check_lots(lots) < 0)
        return NULL;
    if (parse_seq_ts(a[3], a[4], &seq, &ts) < 0)
        return NULL;
    if (cbook_set(self, is_bid, px, lots) < 0)
        return NULL;
    self->sequence = seq;
    self->last_update_ns = ts;
    Py_RETURN_NONE;
}

static PyObject *
cbook_apply_deltas(CBook *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[5];
    unsigned char *sides;
    long long *ticks, *lots, seq, ts;
    if (parse_delta_args(args, nargs, kwnames, a, 3, 5, batch_kwlist, "apply_deltas") < 0)
        return NULL;
    if (parse_seq_ts(a[3], a[4], &seq, &ts) < 0)
        return NULL;
    Py_ssize_t n = parse_batch(a[0], a[1], a[2], &sides, &ticks, &lots), i;
    if (n < 0)
        return NULL;
    for (i = 0; i < n; i++) {
        if (cbook_check_px(ticks[i]) < 0) {
            n = -1;
            break;
        }
    }
    /* reserve the worst case up front so applying cannot fail half-way */
    if (n > 0 && (cbook_reserve(self, BID, self->n[BID] + n) < 0 || cbook_reserve(self, ASK, self->n[ASK] + n) < 0))
        n = -1;
    for (i = 0; i < n; i++)
        cbook_set(self, sides[i], ticks[i], lots[i]);
    PyMem_Free(sides);
    PyMem_Free(ticks);
    PyMem_Free(lots);
    if (n < 0)
        return NULL;
    if (n > 0) {
        self->sequence = seq;
        self->last_update_ns = ts;
    }
    Py_RETURN_NONE;
}

typedef struct {
    long long key;
    long long lots;
    Py_ssize_t order;
} SnapLevel;

static int
snap_cmp(const void *x, const void *y)
{
    const SnapLevel *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

static PyObject *
cbook_apply_snapshot(CBook *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"bids", "asks", "sequence", "ts_ns", NULL};
    PyObject *bids_o, *asks_o, *seq_o = NULL, *ts_o = NULL;
    long long seq = 0, ts = 0, *px[2] = {NULL, NULL}, *lots[2] = {NULL, NULL};
    Py_ssize_t n[2] = {0, 0}, i;
    SnapLevel *tmp[2] = {NULL, NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OO", kwlist, &bids_o, &asks_o, &seq_o, &ts_o))
        return NULL;
    if (parse_seq_ts(seq_o, ts_o, &seq, &ts) < 0)
        return NULL;
    if ((n[BID] = parse_levels(bids_o, &px[BID], &lots[BID], "bid")) < 0)
        return NULL;
    if ((n[ASK] = parse_levels(asks_o, &px[ASK], &lots[ASK], "ask")) < 0)
        goto fail;
    for (int s = 0; s < 2; s++) {
        for (i = 0; i < n[s]; i++)
            if (cbook_check_px(px[s][i]) < 0)
                goto fail;
        if (cbook_reserve(self, s, n[s]) < 0)
            goto fail;
        tmp[s] = PyMem_Malloc(sizeof(SnapLevel) * (n[s] ? n[s] : 1));
        if (tmp[s] == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
    }
    /* validated and memory reserved: replace the book. Sort by key; a repeated price keeps the
     * last occurrence (same as applying the levels as deltas in order); zero lots are dropped. */
    for (int s = 0; s < 2; s++) {
        Py_CLEAR(self->best_cache[s]);
        for (i = 0; i < n[s]; i++) {
            tmp[s][i].key = key_of(s, px[s][i]);
            tmp[s][i].lots = lots[s][i];
            tmp[s][i].order = i;
        }
        qsort(tmp[s], (size_t)n[s], sizeof(SnapLevel), snap_cmp);
        Py_ssize_t m = 0;
        Level *out = self->lv[s];
        for (i = 0; i < n[s]; i++) {
            if (i + 1 < n[s] && tmp[s][i + 1].key == tmp[s][i].key)
                continue; /* a later occurrence of this price follows */
            if (tmp[s][i].lots == 0)
                continue;
            out[m].key = tmp[s][i].key;
            out[m].lots = tmp[s][i].lots;
            m++;
        }
        self->n[s] = m;
    }
    self->sequence = seq;
    self->last_update_ns = ts;
    for (int s = 0; s < 2; s++) {
        PyMem_Free(px[s]);
        PyMem_Free(lots[s]);
        PyMem_Free(tmp[s]);
    }
    Py_RETURN_NONE;
fail:
    for (int s = 0; s < 2; s++) {
        PyMem_Free(px[s]);
        PyMem_Free(lots[s]);
        PyMem_Free(tmp[s]);
    }
    return NULL;
}

static PyObject *
cbook_best_bid(CBook *self, PyObject *unused)
{
    Py_ssize_t n = self->n[BID];
    if (n == 0)
        Py_RETURN_NONE;
    Level *l = &self->lv[BID][n - 1];
    if (self->best_cache[BID] == NULL && (self->best_cache[BID] = level_tuple(l->key, l->lots)) == NULL)
        return NULL;
    return Py_NewRef(self->best_cache[BID]);
}

static PyObject *
cbook_best_ask(CBook *self, PyObject *unused)
{
    Py_ssize_t n = self->n[ASK];
    if (n == 0)
        Py_RETURN_NONE;
    Level *l = &self->lv[ASK][n - 1];
    if (self->best_cache[ASK] == NULL && (self->best_cache[ASK] = level_tuple(-l->key, l->lots)) == NULL)
        return NULL;
    return Py_NewRef(self->best_cache[ASK]);
}

static PyObject *
cbook_is_crossed(CBook *self, PyObject *unused)
{
    Py_ssize_t nb = self->n[BID], na = self->n[ASK];
    return PyBool_FromLong(nb && na && self->lv[BID][nb - 1].key >= -self->lv[ASK][na - 1].key);
}

static PyObject *
cbook_clear_m(CBook *self, PyObject *unused)
{
    self->n[0] = self->n[1] = 0;
    Py_CLEAR(self->best_cache[0]);
    Py_CLEAR(self->best_cache[1]);
    Py_RETURN_NONE;
}

static PyObject *
cbook_size_at(CBook *self, PyObject *const *args, Py_ssize_t nargs)
{
    int side;
    long long px;
    if (parse_side_int(args, nargs, "size_at", &side, &px) < 0)
        return NULL;
    if (px < 1)
        return PyLong_FromLong(0);
    long long k = key_of(side, px);
    Py_ssize_t n = self->n[side], i = lower_bound(self->lv[side], n, k);
    if (i < n && self->lv[side][i].key == k)
        return PyLong_FromLongLong(self->lv[side][i].lots);
    return PyLong_FromLong(0);
}

static PyObject *
cbook_levels(CBook *self, PyObject *const *args, Py_ssize_t nargs)
{
    int side;
    Py_ssize_t depth, k;
    if (parse_depth(args, nargs, "levels", &side, &depth) == NULL)
        return NULL;
    Py_ssize_t n = self->n[side], m = n < depth ? n : depth;
    PyObject *out = PyList_New(m);
    if (out == NULL)
        return NULL;
    for (k = 0; k < m; k++) {
        Level *l = &self->lv[side][n - 1 - k];
        PyObject *lv = level_tuple(CBOOK_PX(side, l->key), l->lots);
        if (lv == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k, lv);
    }
    return out;
}

static PyObject *
cbook_level_count(CBook *self, PyObject *arg)
{
    int side = as_bool(arg);
    if (side < 0)
        return NULL;
    return PyLong_FromSsize_t(self->n[side]);
}

static PyObject *
cbook_walk(CBook *self, PyObject *const *args, Py_ssize_t nargs)
{
    int is_buy;
    long long want;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "walk() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if ((is_buy = as_bool(args[0])) < 0 || as_i64(args[1], &want, "lots") < 0 || check_lots(want) < 0)
        return NULL;
    int side = is_buy ? ASK : BID;
    long long filled = 0;
    BigAcc notional = {0, NULL};
    for (Py_ssize_t i = self->n[side] - 1; i >= 0 && filled < want; i--) {
        Level *l = &self->lv[side][i];
        long long take = want - filled < l->lots ? want - filled : l->lots;
        filled += take;
        if (bigacc_add_prod(&notional, CBOOK_PX(side, l->key), take) < 0) {
            bigacc_free(&notional);
            return NULL;
        }
    }
    PyObject *n = bigacc_finish(&notional);
    if (n == NULL)
        return NULL;
    return Py_BuildValue("(LN)", filled, n);
}

static PyObject *
cbook_size_up_to(CBook *self, PyObject *const *args, Py_ssize_t nargs)
{
    int is_buy;
    long long limit;
    if (parse_side_int(args, nargs, "size_up_to", &is_buy, &limit) < 0)
        return NULL;
    int side = is_buy ? ASK : BID;
    BigAcc total = {0, NULL};
    for (Py_ssize_t i = self->n[side] - 1; i >= 0; i--) {
        Level *l = &self->lv[side][i];
        long long px = CBOOK_PX(side, l->key);
        if (is_buy ? px > limit : px < limit)
            break;
        if (bigacc_add(&total, l->lots) < 0) {
            bigacc_free(&total);
            return NULL;
        }
    }
    return bigacc_finish(&total);
}

static PyMethodDef cbook_methods[] = {
    {"apply_delta", (PyCFunction)(void (*)(void))cbook_apply_delta, METH_FASTCALL | METH_KEYWORDS,
     "apply_delta(is_bid, price, lots, sequence=0, ts_ns=0): set the level's NEW TOTAL lots (0 removes)."},
    {"apply_deltas", (PyCFunction)(void (*)(void))cbook_apply_deltas, METH_FASTCALL | METH_KEYWORDS,
     "apply_deltas(is_bid_seq, price_seq, lots_seq, sequence=0, ts_ns=0): validate all, then apply in order."},
    {"apply_snapshot", (PyCFunction)(void (*)(void))cbook_apply_snapshot, METH_VARARGS | METH_KEYWORDS,
     "apply_snapshot(bids, asks, sequence=0, ts_ns=0): replace the whole book."},
    {"best_bid", (PyCFunction)cbook_best_bid, METH_NOARGS, "(price, lots) of the best bid, or None."},
    {"best_ask", (PyCFunction)cbook_best_ask, METH_NOARGS, "(price, lots) of the best ask, or None."},
    {"is_crossed", (PyCFunction)cbook_is_crossed, METH_NOARGS, "best bid >= best ask (both sides present)."},
    {"clear", (PyCFunction)cbook_clear_m, METH_NOARGS, "remove every level (sequence/time kept)."},
    {"size_at", (PyCFunction)(void (*)(void))cbook_size_at, METH_FASTCALL, "size_at(is_bid, price) -> lots."},
    {"levels", (PyCFunction)(void (*)(void))cbook_levels, METH_FASTCALL, "levels(is_bid, depth=None), best first."},
    {"level_count", (PyCFunction)cbook_level_count, METH_O, "level_count(is_bid) -> number of levels."},
    {"walk", (PyCFunction)(void (*)(void))cbook_walk, METH_FASTCALL, "walk(is_buy, lots) -> (filled_lots, notional)."},
    {"size_up_to", (PyCFunction)(void (*)(void))cbook_size_up_to, METH_FASTCALL,
     "size_up_to(is_buy, limit_price) -> lots available within the limit."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef cbook_members[] = {
    {"sequence", T_LONGLONG, offsetof(CBook, sequence), 0, "sequence of the last applied message"},
    {"last_update_ns", T_LONGLONG, offsetof(CBook, last_update_ns), 0, "ts_ns of the last applied message"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CBookType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "arbkit.core._book.CryptoBookCore",
    .tp_basicsize = sizeof(CBook),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Integer core of CryptoBook (arbitrary positive integer prices).",
    .tp_new = cbook_new,
    .tp_init = (initproc)cbook_init,
    .tp_dealloc = (destructor)cbook_dealloc,
    .tp_methods = cbook_methods,
    .tp_members = cbook_members,
};

/* ========================================================================================== */

/* decimal strings -> scaled integers (the feed hot path; mirrors arbkit.core.numbers)           */
/*
 * parse_units(text, digits) is numbers.parse_units for the common case only: an ASCII string that
 * is, after surrounding whitespace, an optional sign and plain digits with at most one '.', whose
 * extra decimals beyond `digits` are zeros and whose value fits int64. Everything else - errors
 * included - is handed to the pure-Python implementation (numbers.py_parse_units), so both agree
 * by construction on the rare forms (exponents, non-ASCII text, huge values) and raise the same
 * errors with the same messages. plain_units(text, digits) is the strict subset the feeds use for
 * sizes: no whitespace, no sign; it returns None instead of deferring, and the caller takes its
 * slow, fully checked path.
 */

#define UNITS_MAX_DIGITS 18 /* 10**18 < INT64_MAX: the fast path's scale factor always fits */

static PyObject *units_fallback = NULL; /* arbkit.core.numbers.py_parse_units, looked up once */

static PyObject *
units_via_fallback(PyObject *const *args, Py_ssize_t nargs)
{
    if (units_fallback == NULL) {
        PyObject *mod = PyImport_ImportModule("arbkit.core.numbers");
        if (mod == NULL)
            return NULL;
        units_fallback = PyObject_GetAttrString(mod, "py_parse_units");
        Py_DECREF(mod);
        if (units_fallback == NULL)
            return NULL;
    }
    return PyObject_Vectorcall(units_fallback, args, (size_t)nargs, NULL);
}

/* Scan s[0:n] as [ws][sign]digits[.digits][ws] (lenient) or digits[.digits] (strict) into
 * value * 10**digits. Returns 1 and sets *out when the text is in that grammar and fits int64;
 * 0 otherwise (not an error: the caller falls back). */
static int
scan_units(const Py_UCS1 *s, Py_ssize_t n, long digits, int lenient, long long *out)
{
    Py_ssize_t i = 0, end = n;
    int neg = 0;
    if (lenient) {
        /* the same characters as str.strip() (Py_UNICODE_ISSPACE covers \x1c-\x1f too) */
        while (i < end && Py_UNICODE_ISSPACE(s[i]))
            i++;
        while (end > i && Py_UNICODE_ISSPACE(s[end - 1]))
            end--;
        if (i < end && (s[i] == '+' || s[i] == '-')) {
            neg = s[i] == '-';
            i++;
        }
    }
    unsigned long long v = 0;
    Py_ssize_t ndigits = 0;
    long frac = 0;
    while (i < end && s[i] >= '0' && s[i] <= '9') {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > ((unsigned long long)INT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
        i++;
        ndigits++;
    }
    if (i < end && s[i] == '.') {
        i++;
        while (i < end && s[i] >= '0' && s[i] <= '9') {
            unsigned d = (unsigned)(s[i] - '0');
            if (frac < digits) {
                if (v > ((unsigned long long)INT64_MAX - d) / 10)
                    return 0;
                v = v * 10 + d;
                frac++;
            }
            else if (d != 0) {
                return 0; /* more decimals than `digits`: the Python path names the error */
            }
            i++;
            ndigits++;
        }
    }
    if (i != end || ndigits == 0)
        return 0;
    for (; frac < digits; frac++) {
        if (v > (unsigned long long)INT64_MAX / 10)
            return 0;
        v *= 10;
    }
    *out = neg ? -(long long)v : (long long)v;
    return 1;
}

/* digits as a C long when it is an int in [0, UNITS_MAX_DIGITS]; -1 otherwise (no error set). */
static long
units_digits(PyObject *o)
{
    if (!PyLong_Check(o))
        return -1;
    int overflow = 0;
    long d = PyLong_AsLongAndOverflow(o, &overflow);
    if (overflow || d < 0 || d > UNITS_MAX_DIGITS) {
        PyErr_Clear();
        return -1;
    }
    return d;
}

static PyObject *
mod_parse_units(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs == 2 && PyUnicode_Check(args[0]) && PyUnicode_IS_ASCII(args[0])) {
        long digits = units_digits(args[1]);
        long long v;
        if (digits >= 0 && scan_units(PyUnicode_1BYTE_DATA(args[0]), PyUnicode_GET_LENGTH(args[0]), digits, 1, &v))
            return PyLong_FromLongLong(v);
    }
    return units_via_fallback(args, nargs); /* rare forms, bad input, bad arguments */
}

static PyObject *
mod_plain_units(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "plain_units(text, digits) takes exactly 2 arguments");
        return NULL;
    }
    if (PyUnicode_Check(args[0]) && PyUnicode_IS_ASCII(args[0])) {
        long digits = units_digits(args[1]);
        long long v;
        if (digits >= 0 && scan_units(PyUnicode_1BYTE_DATA(args[0]), PyUnicode_GET_LENGTH(args[0]), digits, 0, &v))
            return PyLong_FromLongLong(v);
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"parse_units", (PyCFunction)(void (*)(void))mod_parse_units, METH_FASTCALL,
     "parse_units(text, digits) -> int: arbkit.core.numbers.parse_units, C fast path."},
    {"plain_units", (PyCFunction)(void (*)(void))mod_plain_units, METH_FASTCALL,
     "plain_units(text, digits) -> int | None: the value of an unsigned plain decimal (digits, at most "
     "one '.', no whitespace, extra decimals zero, fits int64) in units of 10**-digits; None for "
     "anything else (then use parse_units, which names the problem)."},
    {NULL, NULL, 0, NULL},
};

/* ========================================================================================== */

static struct PyModuleDef book_module = {
    PyModuleDef_HEAD_INIT, "arbkit.core._book", "C cores for arbkit order books (see book.py).", -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit__book(void)
{
    if (PyType_Ready(&PredBookType) < 0 || PyType_Ready(&CBookType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&book_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&PredBookType);
    Py_INCREF(&CBookType);
    if (PyModule_AddObject(m, "PredictionBookCore", (PyObject *)&PredBookType) < 0 ||
        PyModule_AddObject(m, "CryptoBookCore", (PyObject *)&CBookType) < 0 ||
        PyModule_AddObject(m, "MAX_LOTS", PyLong_FromLongLong(MAX_LOTS)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
