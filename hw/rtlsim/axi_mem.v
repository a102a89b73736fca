// Fast simulation DRAM: an AXI4 slave memory with seeded random latency and back-pressure,
// for the simulation top that hw/rtlsim/wrapper.py generates around encore_top. Simulation
// only (behavioural, not synthesisable); the Python AxiDram (dram_model.py) is its reference.
//
// Host side (driven by the cocotb bench, once per job, never per cycle):
//   load  high at a rising edge: $readmemh("dram_in.hex") into words 0 .. size_words-1, reseed
//         the generator, empty every queue, errors = 0.
//   dump  high at a rising edge: $writememh("dram_out.hex") of words 0 .. size_words-1.
// Behaviour (the same as AxiDram's, cycle for cycle when ready_thr = valid_thr = 256 and the
// latencies are fixed): an AR accepted in cycle c has its first R beat in cycle c + L with L
// drawn from [lat_min, lat_max]; beats follow in request order (any ID); the B response of a
// burst whose last W beat (and AW) is in by cycle c comes in cycle c + [wlat_min, wlat_max];
// each cycle AR/AW/W ready is high with probability ready_thr / 256 and a due R beat is shown
// with probability valid_thr / 256 (xorshift32 generator, seeded by `seed`). Beats are whole
// words at word-aligned addresses (INCR bursts); anything else, or an access at or past
// size_words, counts in `errors` (reads there return 0, writes are dropped).
module encore_axi_mem #(
    parameter BYTES = 16,      // data bus width in bytes
    parameter ADDR_W = 32,
    parameter ID_W = 1,
    parameter WORDS = 65536,   // capacity in bus words
    parameter QD = 256         // entries per request queue (a power of two); a full queue
                               // deasserts its ready, which adds stalls
) (
    input clk,
    input load,
    input dump,
    input [31:0] size_words,
    input [31:0] seed,
    input [15:0] lat_min, input [15:0] lat_max,
    input [15:0] wlat_min, input [15:0] wlat_max,
    input [8:0] ready_thr, input [8:0] valid_thr,
    output reg [31:0] errors,
    input arvalid, output reg arready, input [ADDR_W-1:0] araddr, input [7:0] arlen,
    input [ID_W-1:0] arid,
    output reg rvalid, input rready, output reg [8*BYTES-1:0] rdata, output reg [ID_W-1:0] rid,
    output reg rlast, output [1:0] rresp,
    input awvalid, output reg awready, input [ADDR_W-1:0] awaddr, input [7:0] awlen,
    input [ID_W-1:0] awid,
    input wvalid, output reg wready, input [8*BYTES-1:0] wdata, input [BYTES-1:0] wstrb,
    input wlast,
    output reg bvalid, input bready, output reg [ID_W-1:0] bid, output [1:0] bresp
);
    assign rresp = 2'b00;
    assign bresp = 2'b00;

    reg [8*BYTES-1:0] mem [0:WORDS-1];

    // Queues: reads (due, id, word, beats left), write bursts (id, word, beats left), W beats
    // that wait for their AW, B responses (due, id).
    reg [31:0] rq_due [0:QD-1]; reg [ID_W-1:0] rq_id [0:QD-1];
    reg [31:0] rq_word [0:QD-1]; reg [8:0] rq_left [0:QD-1];
    reg [ID_W-1:0] aq_id [0:QD-1]; reg [31:0] aq_word [0:QD-1]; reg [8:0] aq_left [0:QD-1];
    reg [8*BYTES-1:0] wq_data [0:QD-1]; reg [BYTES-1:0] wq_strb [0:QD-1]; reg wq_last [0:QD-1];
    reg [31:0] bq_due [0:QD-1]; reg [ID_W-1:0] bq_id [0:QD-1];
    integer rh, rt, rc, ah, at, ac, wh, wt, wc, bh, bt, bc, b;
    reg r_shown, b_shown;
    reg [31:0] cyc, rng, word, nerr;

    function [31:0] xorshift(input [31:0] x);
        reg [31:0] y;
        begin
            y = x ^ (x << 13);
            y = y ^ (y >> 17);
            xorshift = y ^ (y << 5);
        end
    endfunction

    task draw(input [8:0] thr, output hit);
        begin
            rng = xorshift(rng);
            hit = rng[7:0] < thr;
        end
    endtask

    task draw_range(input [15:0] lo, input [15:0] hi, output [31:0] value);
        begin
            rng = xorshift(rng);
            value = (hi > lo) ? lo + rng % (hi - lo + 1) : lo;
        end
    endtask

    reg hit;
    reg [31:0] delay;

    always @(posedge clk) begin
        if (load) begin
            $readmemh("dram_in.hex", mem, 0, size_words - 1);
            rng = seed | 32'h1;
            cyc = 0; nerr = 0; errors <= 0;
            rh = 0; rt = 0; rc = 0; ah = 0; at = 0; ac = 0;
            wh = 0; wt = 0; wc = 0; bh = 0; bt = 0; bc = 0;
            r_shown = 0; b_shown = 0;
            arready <= 0; awready <= 0; wready <= 0; rvalid <= 0; bvalid <= 0;
            rdata <= 0; rid <= 0; rlast <= 0; bid <= 0;
        end else if (dump) begin
            $writememh("dram_out.hex", mem, 0, size_words - 1);
        end else begin
            // Handshakes of the cycle that ends at this edge.
            if (r_shown && rready) begin
                rq_word[rh] = rq_word[rh] + 1;
                rq_left[rh] = rq_left[rh] - 1;
                if (rq_left[rh] == 0) begin rh = (rh + 1) % QD; rc = rc - 1; end
                r_shown = 0;
            end
            if (arvalid && arready) begin
                draw_range(lat_min, lat_max, delay);
                if (araddr % BYTES != 0) nerr = nerr + 1;
                rq_due[rt] = cyc + delay; rq_id[rt] = arid;
                rq_word[rt] = araddr / BYTES; rq_left[rt] = arlen + 1;
                rt = (rt + 1) % QD; rc = rc + 1;
            end
            if (awvalid && awready) begin
                if (awaddr % BYTES != 0) nerr = nerr + 1;
                aq_id[at] = awid; aq_word[at] = awaddr / BYTES; aq_left[at] = awlen + 1;
                at = (at + 1) % QD; ac = ac + 1;
            end
            if (wvalid && wready) begin
                wq_data[wt] = wdata; wq_strb[wt] = wstrb; wq_last[wt] = wlast;
                wt = (wt + 1) % QD; wc = wc + 1;
            end
            if (b_shown && bready) begin
                bh = (bh + 1) % QD; bc = bc - 1;
                b_shown = 0;
            end
            while (ac > 0 && wc > 0) begin
                word = aq_word[ah];
                if (word < size_words) begin
                    for (b = 0; b < BYTES; b = b + 1)
                        if (wq_strb[wh][b]) mem[word][8 * b +: 8] = wq_data[wh][8 * b +: 8];
                end else if (wq_strb[wh] != 0) nerr = nerr + 1;
                aq_word[ah] = word + 1;
                aq_left[ah] = aq_left[ah] - 1;
                if ((aq_left[ah] == 0) != wq_last[wh]) nerr = nerr + 1;
                if (aq_left[ah] == 0) begin
                    draw_range(wlat_min, wlat_max, delay);
                    bq_due[bt] = cyc + delay; bq_id[bt] = aq_id[ah];
                    bt = (bt + 1) % QD; bc = bc + 1;
                    ah = (ah + 1) % QD; ac = ac - 1;
                end
                wh = (wh + 1) % QD; wc = wc - 1;
            end
            // Outputs for the next cycle.
            cyc = cyc + 1;
            draw(ready_thr, hit); arready <= hit && rc < QD;
            draw(ready_thr, hit); awready <= hit && ac + bc < QD;
            draw(ready_thr, hit); wready <= hit && wc < QD;
            if (!r_shown && rc > 0 && rq_due[rh] <= cyc) begin
                draw(valid_thr, hit);
                if (hit) begin
                    word = rq_word[rh];
                    if (word < size_words) rdata <= mem[word];
                    else begin rdata <= 0; nerr = nerr + 1; end
                    rid <= rq_id[rh];
                    rlast <= rq_left[rh] == 1;
                    r_shown = 1;
                end
            end
            if (!b_shown && bc > 0 && bq_due[bh] <= cyc) begin
                bid <= bq_id[bh];
                b_shown = 1;
            end
            rvalid <= r_shown;
            bvalid <= b_shown;
            errors <= nerr;
        end
    end
endmodule
