"""The ``infonotation`` command line: parse, check and derive information quantities; score a pool.

Exit status: 0 success (for ``check``: the identity holds), 1 the identity does not hold,
2 bad input (the message is the library's own error, with a caret under the fault), 3 undecided
(``check`` could neither prove nor refute it; it prints UNDECIDED).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import NotationError

EPILOG = """\
examples:
  infonotation parse "I[W;Y|x]" --latex
  infonotation parse "H''[w*|y,x] = H''[y|x,w*] + H''[w*]" --tree
  infonotation check "H''[w*|y,x] = H''[y|x,w*] + H''[w*]"
  infonotation check "H[X,y] = H[X] + H[y|X]" --no-model
  infonotation derive "I[W;Y|x]" --using gaussian,ggn,eig_logdet,trace --latex
  infonotation demo --out report
  infonotation score "I[W;Y|x]" --model mymodels:make_net --pool pool_shards/ --k 10 --engine ray
  infonotation check --latex-input "\\MIof{\\W; \\Y \\given \\x} = \\Hof{\\Y \\given \\x} - \\Hof{\\Y \\given \\x, \\W}"

notation (ASCII; Unicode such as ≈ ≤ θ ∣ ⁻¹ also works):
  H[A,b|C]  entropy family: average over upper-case names given the lower-case ones
  I[A;B|C]  mutual information      H''[y|x,w*]  Hessian in the parameter at w* (observed information)
  H''[Y|x,w*] Fisher information    logdet(M), tr(M), M^-1, M^T, Id, A @ B, 1/2, C_k
  relations: =  ~= (approximately)  <=  <~ (at most, after an approximation)  =>  <=>
"""


#: Exit status of ``check`` when the statement could be neither proven nor refuted.
EXIT_UNDECIDED = 3


def _read(text: str, latex: bool):
    from .syntax.parser import parse

    if latex:
        from .syntax.latex import parse_latex

        return parse_latex(text)
    return parse(text)


def _cmd_parse(args: argparse.Namespace) -> int:
    e = _read(args.text, args.latex_input)
    if args.latex:
        print(e.latex())
    elif args.unicode:
        print(e.unicode())
    elif args.tree:
        print(e.tree())
    else:
        print(str(e))
    return 0


def _model(args: argparse.Namespace):
    from .symbolic.model import Model

    return None if args.no_model else Model()


def _cmd_check(args: argparse.Namespace) -> int:
    from .symbolic.check import check

    verdict = check(_read(args.text, args.latex_input), _model(args))
    print(verdict.explanation)
    return 0 if verdict else (EXIT_UNDECIDED if verdict.undecided else 1)


def _cmd_derive(args: argparse.Namespace) -> int:
    from .symbolic.derivation import derive

    using = [u.strip() for u in args.using.split(",") if u.strip()]
    d = derive(_read(args.text, args.latex_input), using=using, model=_model(args))
    print(d.latex() if args.latex else str(d))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, seed=args.seed, quick=args.quick)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="infonotation",
        description="Parse, check and derive the information quantities of Kirsch & Gal (TMLR 2022): "
                    "BALD, EPIG, Fisher information and their approximations, in one line of notation.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add_input(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("text", help="the notation, quoted (e.g. \"I[W;Y|x]\")")
        sp.add_argument("--latex-input", action="store_true", help="read TEXT as LaTeX (the paper's macros)")

    sp = sub.add_parser("parse", help="parse notation and print it back (ASCII by default)",
                        description="Parse notation and print it as canonical ASCII, Unicode, LaTeX or a tree.")
    add_input(sp)
    out = sp.add_mutually_exclusive_group()
    out.add_argument("--latex", action="store_true", help="print LaTeX in the paper's style")
    out.add_argument("--unicode", action="store_true", help="print with Unicode symbols")
    out.add_argument("--tree", action="store_true", help="print the syntax tree")
    sp.set_defaults(func=_cmd_parse)

    sp = sub.add_parser("check", help="check an identity or a derivation chain (exit 0 holds, 1 does not, "
                                      "3 undecided)",
                        description="Check a relation or chain step by step under the default Bayesian model "
                                    "p(y,w|x) = p(y|x,w) p(w). Exit 0 when it HOLDS, 1 when it DOES NOT HOLD, 2 on "
                                    "bad input, 3 when it is UNDECIDED (neither proven nor refuted).")
    add_input(sp)
    sp.add_argument("--no-model", action="store_true", help="assume nothing: every joint distribution")
    sp.set_defaults(func=_cmd_check)

    sp = sub.add_parser("derive", help="derive an approximation step by step",
                        description="Derive from a quantity with named approximation steps.")
    add_input(sp)
    sp.add_argument("--using", default="gaussian,ggn,eig_logdet",
                    help="comma-separated rules (default: gaussian,ggn,eig_logdet); also trace, glm, last_layer, "
                         "flat_prior, determinant_lemma, samples")
    sp.add_argument("--latex", action="store_true", help="print the derivation as a LaTeX aligned environment")
    sp.add_argument("--no-model", action="store_true", help="assume nothing about the distributions")
    sp.set_defaults(func=_cmd_derive)

    sp = sub.add_parser("demo", help="the end-to-end demo on the bundled digits data (writes a report)",
                        description="Train a small MLP on scikit-learn's digits, compare prediction-space and "
                                    "weight-space scores (the paper's appendix), run an active-learning loop for "
                                    "the named methods, and write report.md, report.html, PNGs and results.json.")
    sp.add_argument("--out", type=Path, default=Path("report"), help="output folder (default: report)")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument("--quick", action="store_true", help="a smaller run (under a minute)")
    sp.set_defaults(func=_cmd_demo)

    from .cli_score import add_score_command

    add_score_command(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except NotationError as err:
        print(f"infonotation {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
