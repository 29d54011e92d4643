package org.newswire.analysis;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import morfologik.stemming.Dictionary;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.StopFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.WordlistLoader;
import org.apache.lucene.analysis.charfilter.MappingCharFilter;
import org.apache.lucene.analysis.charfilter.NormalizeCharMap;
import org.apache.lucene.analysis.miscellaneous.RemoveDuplicatesTokenFilter;
import org.apache.lucene.analysis.morfologik.MorfologikFilter;
import org.apache.lucene.analysis.standard.StandardTokenizer;

/**
 * Lucene's UkrainianMorfologikAnalyzer chain, plus lowercasing of the lemmas (the dictionary
 * yields "Київ", "Зеленський" for proper nouns). We cannot use that class directly: it
 * looks the dictionary up as the module "morfologik.ukrainian.search" in its own module layer,
 * but Elasticsearch merges all jars of a stable plugin into one synthetic module, so that lookup
 * fails. Here the resources are read through the plugin's class loader instead.
 */
final class UkrainianAnalyzer extends Analyzer {

    /** Loaded once per node: the dictionary is ~7 MB and immutable. */
    private static final class Resources {
        static final Dictionary DICTIONARY;
        static final CharArraySet STOPWORDS;

        static {
            try (InputStream fsa = open("ua/net/nlp/ukrainian.dict");
                 InputStream info = open("ua/net/nlp/ukrainian.info");
                 Reader stop = new InputStreamReader(
                         open("org/apache/lucene/analysis/uk/stopwords.txt"), StandardCharsets.UTF_8)) {
                DICTIONARY = Dictionary.read(fsa, info);
                STOPWORDS = CharArraySet.unmodifiableSet(WordlistLoader.getSnowballWordSet(stop));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static InputStream open(String name) throws IOException {
            InputStream in = UkrainianAnalyzer.class.getClassLoader().getResourceAsStream(name);
            if (in == null) {
                throw new IOException("resource not found on plugin class path: " + name);
            }
            return in;
        }
    }

    // Apostrophe variants, stress mark, soft hyphen and ґ, as in Lucene's analyzer.
    private static final NormalizeCharMap NORMALIZER;

    static {
        NormalizeCharMap.Builder b = new NormalizeCharMap.Builder();
        for (String apostrophe : new String[] {"\u2019", "\u2018", "\u02BC", "`", "\u00B4"}) {
            b.add(apostrophe, "'");
        }
        b.add("\u0301", "");
        b.add("\u00AD", "");
        b.add("ґ", "г");
        b.add("Ґ", "Г");
        NORMALIZER = b.build();
    }

    @Override
    protected Reader initReader(String fieldName, Reader reader) {
        return new MappingCharFilter(NORMALIZER, reader);
    }

    @Override
    protected TokenStreamComponents createComponents(String fieldName) {
        Tokenizer source = new StandardTokenizer();
        TokenStream result = new LowerCaseFilter(source);
        result = new StopFilter(result, Resources.STOPWORDS);
        result = new MorfologikFilter(result, Resources.DICTIONARY);
        result = new RemoveDuplicatesTokenFilter(new LowerCaseFilter(result));
        return new TokenStreamComponents(source, result);
    }

    @Override
    protected TokenStream normalize(String fieldName, TokenStream in) {
        return new LowerCaseFilter(in);
    }
}
