package org.newswire.analysis;

import java.util.function.Supplier;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.ar.ArabicAnalyzer;
import org.apache.lucene.analysis.de.GermanAnalyzer;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.es.SpanishAnalyzer;
import org.apache.lucene.analysis.fr.FrenchAnalyzer;
import org.apache.lucene.analysis.it.ItalianAnalyzer;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.pt.PortugueseAnalyzer;
import org.apache.lucene.analysis.ru.RussianAnalyzer;
import org.apache.lucene.analysis.standard.StandardTokenizer;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.AnalyzerFactory;

/**
 * Named analyzers exposed to index mappings. Each nested class is one stable-plugin component;
 * every one must also be listed in named_components.json (NamedComponentsTest checks this).
 */
public final class NewswireAnalyzers {
    private NewswireAnalyzers() {}

    /** Base for factories that just instantiate a Lucene analyzer. */
    abstract static class Base implements AnalyzerFactory {
        private final Supplier<Analyzer> supplier;

        Base(Supplier<Analyzer> supplier) {
            this.supplier = supplier;
        }

        @Override
        public Analyzer create() {
            return supplier.get();
        }
    }

    /** Possessive removal ("Putin's" -> "putin"), stop words, Porter stemming. */
    @NamedComponent("newswire_english")
    public static final class English extends Base {
        public English() {
            super(EnglishAnalyzer::new);
        }
    }

    @NamedComponent("newswire_russian")
    public static final class Russian extends Base {
        public Russian() {
            super(RussianAnalyzer::new);
        }
    }

    @NamedComponent("newswire_german")
    public static final class German extends Base {
        public German() {
            super(GermanAnalyzer::new);
        }
    }

    @NamedComponent("newswire_french")
    public static final class French extends Base {
        public French() {
            super(FrenchAnalyzer::new);
        }
    }

    @NamedComponent("newswire_spanish")
    public static final class Spanish extends Base {
        public Spanish() {
            super(SpanishAnalyzer::new);
        }
    }

    @NamedComponent("newswire_arabic")
    public static final class Arabic extends Base {
        public Arabic() {
            super(ArabicAnalyzer::new);
        }
    }

    @NamedComponent("newswire_italian")
    public static final class Italian extends Base {
        public Italian() {
            super(ItalianAnalyzer::new);
        }
    }

    @NamedComponent("newswire_portuguese")
    public static final class Portuguese extends Base {
        public Portuguese() {
            super(PortugueseAnalyzer::new);
        }
    }

    @NamedComponent("newswire_ukrainian")
    public static final class Ukrainian extends Base {
        public Ukrainian() {
            super(UkrainianAnalyzer::new);
        }
    }

    /** Language-neutral: standard tokenizer, lowercase, ASCII folding ("Zürich" -> "zurich"); no stemming or stop words. */
    @NamedComponent("newswire_folding")
    public static final class Folding extends Base {
        public Folding() {
            super(FoldingAnalyzer::new);
        }
    }

    static final class FoldingAnalyzer extends Analyzer {
        @Override
        protected TokenStreamComponents createComponents(String fieldName) {
            Tokenizer source = new StandardTokenizer();
            TokenStream result = new ASCIIFoldingFilter(new LowerCaseFilter(source));
            return new TokenStreamComponents(source, result);
        }

        @Override
        protected TokenStream normalize(String fieldName, TokenStream in) {
            return new ASCIIFoldingFilter(new LowerCaseFilter(in));
        }
    }
}
